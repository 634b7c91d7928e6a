"""Joining (or starting) a Ray cluster, and how many workers of what shape it holds.

The only module that imports Ray: without the extra, :func:`import_ray` says how to install it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from types import ModuleType

from aprvfi_cli.cluster import RAY_INSTALL, ClusterError
from aprvfi_cli.errors import UsageError

LOCAL = ""  # the address that starts a Ray instance on this machine


def import_ray(*, loopback: bool = False) -> ModuleType:
    """The ``ray`` module; :class:`UsageError` naming the install command when it is missing.

    ``loopback``: a Ray started from this process listens on 127.0.0.1 only (it must be asked
    before Ray is first imported; Ray reads it once).
    """
    if loopback:
        # Ray's own switch for single-machine use: every server binds to the loopback address
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from users' machines
    try:
        import ray
    except ImportError:
        raise UsageError(f"Ray is not installed; install the extra: {RAY_INSTALL}", subject="ray") from None
    return ray


def connect(address: str = LOCAL, *, num_cpus: int | None = None, object_store_bytes: int | None = None) -> ModuleType:
    """Connect this process to a Ray cluster once; returns the ``ray`` module.

    ``address``: "" starts a local Ray on this machine (loopback only, ``num_cpus`` and
    ``object_store_bytes`` apply), ``auto`` joins the cluster started here with ``ray start``,
    ``ray://host:port`` or ``host:port`` joins a remote one. Already connected: nothing changes.
    """
    ray = import_ray(loopback=address == LOCAL)
    if ray.is_initialized():
        return ray
    settings: dict = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address == LOCAL:
            ray.init(num_cpus=num_cpus, object_store_memory=object_store_bytes, include_dashboard=False, **settings)
        else:
            ray.init(address=address, **settings)
    except (ConnectionError, RuntimeError, ValueError) as error:
        text = " ".join(str(error).split())[:300]
        raise ClusterError(f"cannot reach the Ray cluster at {address!r}: {text}") from None
    return ray


@dataclass(frozen=True)
class WorkerShape:
    """How many model workers run and what each reserves: one per GPU, else ``cpus`` threads each."""

    count: int
    cpus: int
    gpus: int

    @property
    def threads(self) -> int:
        return self.cpus


def worker_shape(ray: ModuleType, *, device: str = "auto", cpus_per_worker: int | None = None) -> WorkerShape:
    """Workers for the cluster's resources: one per GPU when it has GPUs (unless ``device`` is
    cpu), else CPU workers of ``cpus_per_worker`` threads (default: 1 on machines of up to 4
    cores, else 4: convolutions scale well to about 4 threads, and more workers use more memory)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 0))
    if device.strip().lower() == "cuda" and not gpus:
        raise ClusterError("the Ray cluster has no GPU (use device cpu or auto)")
    if gpus and device.strip().lower() != "cpu":
        return WorkerShape(count=gpus, cpus=1, gpus=1)
    if cpus < 1:
        raise ClusterError("the Ray cluster has no CPU to run workers on")
    per = cpus_per_worker or (1 if cpus <= 4 else 4)
    return WorkerShape(count=max(1, cpus // per), cpus=min(per, cpus), gpus=0)
