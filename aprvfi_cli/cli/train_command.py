"""``aprvfi train``: the paper's three-stage curriculum (:mod:`aprvfi_cli.train`).

``train_app`` is a group whose callback trains, so options and sub-commands can be added to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aprvfi_cli.cli.command_group import CommandGroup
from aprvfi_cli.cli.options import DEFAULT_CACHE, PlacementOptions, with_options
from aprvfi_cli.errors import UsageError

if TYPE_CHECKING:
    from aprvfi_cli.train.config import TrainConfig
    from aprvfi_cli.train.dataset import DataConfig

train_app = CommandGroup(help="Train APR-VFI with the paper's three-stage curriculum.", no_args_is_help=False)


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
    from aprvfi_cli.train.config import StageConfig, TrainConfig, paper_stages

    defaults = {s.stage: s for s in paper_stages()}
    chosen = []
    for index, number in enumerate(stages):
        if number not in defaults:
            raise UsageError(f"--stages: stage {number} does not exist (1, 2 or 3)")
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
@with_options(placement=PlacementOptions)
def train(
    placement: PlacementOptions,
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
    from dataclasses import replace

    from rich.console import Console

    from aprvfi_cli.placement import resolve_placement
    from aprvfi_cli.train.dataset import DataConfig
    from aprvfi_cli.train.launch import build_trainer
    from aprvfi_cli.train.store_crops import StoreSampling
    from aprvfi_cli.train.synthetic import SyntheticConfig
    from aprvfi_cli.video.termination import Terminated, terminate_on_signals

    console = Console(stderr=True)

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
            placement=resolve_placement(placement.device, placement.precision, placement.threads),
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
