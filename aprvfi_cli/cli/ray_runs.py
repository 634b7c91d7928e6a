"""The command-line side of ``--ray``: the option, and the convert/slowmo/batch runs on a cluster.

``cli.py`` keeps one branch per command; the words the user sees about the cluster live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aprvfi_cli.cluster.connect import LOCAL, import_ray
from aprvfi_cli.engine.stream import JobOptions, JobResult
from aprvfi_cli.options import ModelOptions

RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Run on a Ray cluster: local (start one here), auto (the one `ray start` joined) or "
        "ray://HOST:PORT. Needs the ray extra; inputs and outputs on storage every node sees.",
    ),
]


def cluster_address(value: str) -> str:
    """The address for :func:`~aprvfi_cli.cluster.connect.connect` (``local`` and "" start one here)."""
    return LOCAL if value.strip().lower() in ("", "local") else value.strip()


def _spec(model: ModelOptions, address: str):
    """Ray present (else the one-line install hint, exit 2), then the model checked on this machine."""
    from aprvfi_cli.cluster.worker import resolve_model

    import_ray(loopback=address == LOCAL)
    return resolve_model(model.weights, model.device, model.precision, model.route)


def convert_on_ray(
    source: Path, target: Path, *, model: ModelOptions, options: JobOptions, address: str, quiet: bool
) -> tuple[JobResult, str]:
    """``convert``/``slowmo`` with ``--ray``: the result and the interpolator's description."""
    from aprvfi_cli.cluster.convert import convert_on_cluster
    from aprvfi_cli.cluster.plan import scan_source
    from aprvfi_cli.cluster.worker import open_pool
    from aprvfi_cli.console import progress_bar

    spec, description = _spec(model, address)
    plan = scan_source(source, options)  # a bad input fails here, before any worker starts
    with (
        progress_bar(source.name, quiet=quiet) as progress,
        open_pool(spec, address=address, cpus_per_worker=model.threads) as pool,
    ):
        result = convert_on_cluster(source, target, pool=pool, options=options, progress=progress, plan=plan)
    return result, description


def batch_on_ray(
    folder: Path,
    out_dir: Path | None,
    *,
    model: ModelOptions,
    options: JobOptions,
    address: str,
    recursive: bool,
    overwrite: bool,
    quiet: bool,
) -> int:
    """``batch`` with ``--ray``: prints the summary table; returns the number of failed clips."""
    from aprvfi_cli.cluster.clip_tasks import batch_on_cluster
    from aprvfi_cli.cluster.worker import open_pool

    spec, description = _spec(model, address)
    return batch_on_cluster(
        folder,
        out_dir,
        open_workers=lambda count: open_pool(spec, address=address, cpus_per_worker=model.threads, limit=count),
        options=options,
        description=description,
        recursive=recursive,
        overwrite=overwrite,
        quiet=quiet,
    )
