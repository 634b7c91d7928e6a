"""The ``--ray`` side of ``convert``, ``slowmo`` and ``batch``: the same runs on a cluster's workers.

Imported only when a command is given ``--ray``; the option itself is :data:`~aprvfi_cli.cli.options.RayAddress`.
"""

from __future__ import annotations

from pathlib import Path

from aprvfi_cli.cli.options import ModelOptions, PlacementOptions
from aprvfi_cli.cluster.connect import LOCAL, import_ray
from aprvfi_cli.cluster.worker import ModelSpec, WorkerPool, open_pool, resolve_model
from aprvfi_cli.engine.folder import FolderRun
from aprvfi_cli.engine.stream import JobOptions, JobResult


def cluster_address(value: str) -> str:
    """The address for :func:`~aprvfi_cli.cluster.connect.connect` (``local`` and "" start one here)."""
    return LOCAL if value.strip().lower() in ("", "local") else value.strip()


def _workers(model: ModelOptions, placement: PlacementOptions, ray: str):
    """Ray present (else the one-line install hint, exit 2), then the model checked on this machine:
    a function that opens the pool (at most n workers) and the interpolator's description."""
    address = cluster_address(ray)
    import_ray(loopback=address == LOCAL)
    spec, description = resolve_model(
        ModelSpec(
            model.weights,
            device=placement.device,
            precision=placement.precision,
            route=model.route,
            flow_scale=model.flow_scale,
        )
    )

    def open_workers(limit: int | None = None) -> WorkerPool:
        return open_pool(spec, address=address, cpus_per_worker=placement.threads, limit=limit)

    return open_workers, description


def convert_on_ray(
    source: Path,
    target: Path,
    *,
    model: ModelOptions,
    placement: PlacementOptions,
    options: JobOptions,
    ray: str,
    quiet: bool,
) -> tuple[JobResult, str]:
    """``convert``/``slowmo`` with ``--ray``: the result and the interpolator's description."""
    from aprvfi_cli.cli.console import progress_bar
    from aprvfi_cli.cluster.convert import convert_on_cluster
    from aprvfi_cli.cluster.plan import scan_source

    open_workers, description = _workers(model, placement, ray)
    plan = scan_source(source, options)  # a bad input fails here, before any worker starts
    with progress_bar(source.name, quiet=quiet) as progress, open_workers() as pool:
        result = convert_on_cluster(source, target, pool=pool, options=options, progress=progress, plan=plan)
    return result, description


def batch_on_ray(
    folder: Path,
    out_dir: Path | None,
    *,
    model: ModelOptions,
    placement: PlacementOptions,
    options: JobOptions,
    ray: str,
    recursive: bool,
    overwrite: bool,
    quiet: bool,
) -> FolderRun:
    """``batch`` with ``--ray``: every clip's row."""
    from aprvfi_cli.cli.cluster_progress import cluster_progress
    from aprvfi_cli.cluster.clip_tasks import batch_on_cluster

    open_workers, description = _workers(model, placement, ray)
    return batch_on_cluster(
        folder,
        out_dir,
        open_workers=open_workers,
        options=options,
        description=description,
        recursive=recursive,
        overwrite=overwrite,
        display=cluster_progress(quiet=quiet),
    )
