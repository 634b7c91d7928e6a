"""Building a trainer for ``aprvfi train``: the run's data loaded from the cache (or the store named in
its config), and a resumed run's config taken from its checkpoint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aprvfi_cli.placement import Placement
from aprvfi_cli.train.checkpoint import load_checkpoint
from aprvfi_cli.train.config import TrainConfig
from aprvfi_cli.train.dataset import load_material
from aprvfi_cli.train.trainer import Trainer


def build_trainer(
    config: TrainConfig,
    *,
    run_dir: str | Path,
    cache: str | Path,
    placement: Placement | None = None,
    resume: str | Path | None = None,
    progress_bar: bool = True,
) -> Trainer:
    """Load the data and build a :class:`Trainer`; a resumed run takes its config (stages, data
    recipe, optimiser) from the checkpoint; only loader workers and checkpoint retention from ``config``."""
    if resume is not None:
        config = replace(
            TrainConfig.from_dict(load_checkpoint(resume)["config"]),
            workers=config.workers,
            keep_checkpoints=config.keep_checkpoints,
        )
    if config.store is not None and any(stage.trains_flow for stage in config.stages):
        raise ValueError("the store holds a frozen flow: train stage 1 from the cache, stages 2 and 3 from the store")
    material = None if config.store is not None else load_material(cache, config.data)
    return Trainer(
        config,
        run_dir=run_dir,
        material=material,
        placement=placement,
        resume=resume,
        progress_bar=progress_bar,
    )
