"""Handing calls to idle worker actors, and stopping them for good on any exit.

Ray does the scheduling, retries and restarts; this only keeps each worker busy with one call
at a time (a worker holds one model) and maps results back to the items they belong to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

from aprvfi_cli.cluster import ClusterError
from aprvfi_cli.errors import AprvfiError

if TYPE_CHECKING:
    from aprvfi_cli.cluster.worker import WorkerPool

Item = TypeVar("Item")
_TICK_S = 0.5  # how often the driver looks at progress while it waits
_STOP_WAIT_S = 10  # how long a killed worker may take to die


def unwrap(ray: ModuleType, error: BaseException) -> BaseException:
    """The error a worker raised (an :class:`AprvfiError` travels as itself), or a
    :class:`ClusterError` in plain words for a worker that died or a lost connection."""
    cause = getattr(error, "cause", None)
    if isinstance(error, ray.exceptions.RayTaskError) and isinstance(cause, BaseException):
        return cause if isinstance(cause, AprvfiError | OSError) else error
    if isinstance(error, ray.exceptions.RayActorError):
        text = " ".join(str(error).split())
        origin = text.split("Traceback")[0][:200]
        return ClusterError(f"a worker died and could not be restarted: {origin}")
    if isinstance(error, ray.exceptions.RayError):
        return ClusterError(f"the cluster failed: {' '.join(str(error).split())[:300]}")
    return error


def run_on_workers(
    pool: WorkerPool,
    items: Iterable[Item],
    call: Callable[[object, Item], object],
    *,
    done: Callable[[Item, object], None],
    failed: Callable[[Item, BaseException], None],
    tick: Callable[[], None] = lambda: None,
) -> None:
    """Run ``call(worker, item)`` (an actor method's ObjectRef) for every item, one per worker at a
    time; ``done(item, value)`` or ``failed(item, error)`` as each ends (either may raise to stop).

    A worker that died after its retries is not used again; when none is left, the remaining
    items fail with a :class:`ClusterError`.
    """
    if pool.closed:
        raise ClusterError("the workers were stopped by an earlier failure")
    ray, queue, idle, pending = pool.ray, list(items), list(pool.actors), {}
    try:
        _loop(ray, queue, idle, pending, call, done, failed, tick)
    except BaseException:  # a failure, or Ctrl-C: stop the work in flight before anyone cleans up
        pool.close()
        if pending:
            ray.wait(list(pending), num_returns=len(pending), timeout=_STOP_WAIT_S)
        raise


def _loop(ray, queue, idle, pending, call, done, failed, tick) -> None:
    """The body of :func:`run_on_workers`."""
    while queue or pending:
        while idle and queue:
            worker, item = idle.pop(), queue.pop(0)
            pending[call(worker, item)] = (worker, item)
        if not pending:  # every worker is gone
            for item in queue:
                failed(item, ClusterError("every worker died"))
            return
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=_TICK_S)
        tick()
        for ref in ready:
            worker, item = pending.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayError as error:
                if not isinstance(error, ray.exceptions.RayActorError):
                    idle.append(worker)
                failed(item, unwrap(ray, error))
            else:
                idle.append(worker)
                done(item, value)


def stop_workers(ray: ModuleType, actors: list) -> None:
    """Kill the actors for good (no restart); Ray ends their processes."""
    for actor in actors:
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # already dead, or the cluster is gone: nothing left to stop
            pass
