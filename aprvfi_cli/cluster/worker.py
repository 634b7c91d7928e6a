"""The worker actor: loads the model once, then renders clips (batch) or segments (one video).

A worker process that dies is restarted by Ray, which loads the model again and retries the
call it was running (``max_task_retries``): every call writes its output atomically, so a retry
starts from nothing and leaves nothing half-written.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

from aprvfi_cli.runtime import choose_openmp_wait_policy

choose_openmp_wait_policy()  # before torch loads in a worker process

from aprvfi_cli.cluster.connect import LOCAL, WorkerShape, connect, worker_shape  # noqa: E402
from aprvfi_cli.cluster.render import SegmentJob, render_segment  # noqa: E402
from aprvfi_cli.engine.stream import JobOptions, JobResult, process_video  # noqa: E402

# a worker process may die this many times (and each call be retried this many times)
RETRIES = 3


@dataclass(frozen=True)
class ModelSpec:
    """The model every worker loads: :func:`~aprvfi_cli.engine.interpolator.load_model`'s words
    (a weights file, None: the default; the user's device and precision words; the route; the flow scale)."""

    weights: Path | None
    device: str = "auto"
    precision: str = "auto"
    route: str | None = None
    flow_scale: str = "auto"


def resolve_model(spec: ModelSpec) -> tuple[ModelSpec, str]:
    """Check the model on the driver before any work (errors are the local run's) and fix the
    weights file every worker loads; returns the spec and the interpolator's description."""
    from aprvfi_cli.engine.interpolator import load_model

    # the workers' device may not exist here
    checked = load_model(spec.weights, "cpu", "fp32", route=spec.route, flow_scale=spec.flow_scale)
    path = checked.origin.path if checked.origin.path is not None else spec.weights
    # the weights only: each worker decides its own device, precision and threads
    return replace(spec, weights=path), f"{checked.origin.describe()}, {checked.describe_flow_scale()}"


class RenderWorker:
    """One model on one GPU (or a few CPU threads); method calls run one at a time."""

    def __init__(self, spec: ModelSpec, threads: int | None, board: str | None = None) -> None:
        import ray

        from aprvfi_cli.engine.interpolator import load_model

        self.interpolator = load_model(
            spec.weights, spec.device, spec.precision, route=spec.route, threads=threads, flow_scale=spec.flow_scale
        )
        # looked up by name: an actor handle among the arguments would defeat restarts (Ray #53727)
        self.board = ray.get_actor(board) if board else None

    def _report(self, frames: int) -> None:
        if self.board is not None and frames:
            self.board.add.remote(frames)  # fire and forget: progress must never slow the work

    def pid(self) -> int:
        return os.getpid()

    def convert(self, source: Path, target: Path, options: JobOptions) -> JobResult:
        """One whole clip, as the local batch does (written atomically)."""
        done = 0

        def progress(written: int, _total: int | None) -> None:
            nonlocal done
            self._report(written - done)
            done = written

        return process_video(source, target, interpolator=self.interpolator, options=options, progress=progress)

    def render(self, job: SegmentJob) -> int:
        """One segment of a long video into ``job.part``; returns its frame count."""
        return render_segment(job, self.interpolator, self._report)


class ProgressBoard:
    """Frames written across the cluster (an actor workers add to and the driver reads)."""

    def __init__(self) -> None:
        self.frames = 0

    def add(self, frames: int) -> None:
        self.frames += frames

    def total(self) -> int:
        return self.frames


class WorkerPool:
    """Model workers on a Ray cluster, started once and used by any number of jobs (a context
    manager: leaving it kills the workers). A job that fails or is interrupted kills them too
    (that is how Ray stops work in flight), so the pool is then closed.

    Attributes: ray (the module), actors (the worker handles), board (their progress board).
    """

    def __init__(self, ray: ModuleType, actors: list, board: object) -> None:
        self.ray, self.actors, self.board = ray, actors, board
        self.closed = False

    @classmethod
    def start(cls, ray: ModuleType, spec: ModelSpec, shape: WorkerShape) -> WorkerPool:
        """``shape.count`` workers (each loads ``spec`` once) and their progress board."""
        name = f"aprvfi-progress-{uuid.uuid4().hex}"
        board = ray.remote(num_cpus=0)(ProgressBoard).options(name=name).remote()
        actor = ray.remote(num_cpus=shape.cpus, num_gpus=shape.gpus, max_restarts=RETRIES, max_task_retries=RETRIES)(
            RenderWorker
        )
        threads = shape.threads if not shape.gpus else None
        return cls(ray, [actor.remote(spec, threads, name) for _ in range(shape.count)], board)

    def frames_written(self) -> int:
        """Frames written by every worker since the pool started."""
        return int(self.ray.get(self.board.total.remote()))

    def close(self) -> None:
        from aprvfi_cli.cluster.dispatch import stop_workers

        if not self.closed:
            stop_workers(self.ray, [*self.actors, self.board])
            self.closed = True

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_pool(
    spec: ModelSpec, *, address: str = LOCAL, cpus_per_worker: int | None = None, limit: int | None = None
) -> WorkerPool:
    """Connect to the cluster at ``address`` and start as many workers as it holds (at most
    ``limit``): one per GPU, else CPU workers (see :func:`worker_shape`)."""
    ray = connect(address)
    shape = worker_shape(ray, device=spec.device, cpus_per_worker=cpus_per_worker)
    return WorkerPool.start(ray, spec, replace(shape, count=min(shape.count, limit or shape.count)))
