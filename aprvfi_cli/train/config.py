"""How a training run is configured: the curriculum's stages and the run around them (frozen,
stored in every checkpoint). The defaults are the paper's (§3.3, §4.1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from aprvfi_cli.train.dataset import DataConfig
from aprvfi_cli.train.losses import LossWeights
from aprvfi_cli.train.resident import ResidentSampling
from aprvfi_cli.train.schedule import LRSchedule
from aprvfi_cli.train.store_crops import StoreSampling


@dataclass(frozen=True)
class StageConfig:
    """One curriculum stage. ``rank_over`` is how the reference route map ranks patches."""

    stage: int
    steps: int
    crop: int
    batch_size: int
    peak_lr: float = 2e-4
    final_lr: float = 2e-5
    warmup_steps: int = 2000
    rank_over: Literal["image", "batch"] = "image"

    def __post_init__(self) -> None:
        if self.stage not in (1, 2, 3):
            raise ValueError(f"stage must be 1, 2 or 3, got {self.stage}")

    @property
    def trains_flow(self) -> bool:
        return self.stage == 1

    @property
    def routed(self) -> bool:
        return self.stage == 3

    def schedule(self) -> LRSchedule:
        return LRSchedule(
            total_steps=self.steps, peak_lr=self.peak_lr, final_lr=self.final_lr, warmup_steps=self.warmup_steps
        )


def paper_stages(*, batch_size: int = 32, scale: float = 1.0) -> tuple[StageConfig, ...]:
    """800k / 200k / 200k steps (times ``scale``), batch 32; 256-px crops except stage 2's 64-px."""
    return (
        StageConfig(1, max(1, round(800_000 * scale)), 256, batch_size),
        StageConfig(2, max(1, round(200_000 * scale)), 64, batch_size, rank_over="batch"),
        StageConfig(3, max(1, round(200_000 * scale)), 256, batch_size),
    )


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run (stored in every checkpoint)."""

    preset: str = "paper"
    stages: tuple[StageConfig, ...] = field(default_factory=paper_stages)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-4
    gumbel_tau: float = 1.0
    init: str = "shipped"  # "shipped": weights/aprvfi-default.pt (else EBME); "ebme"; "none": random; or a file
    checkpoint_every_s: float = 600.0
    validate_every: int = 1000
    validation_synthetic: int = 16
    validation_clips: int = 16
    log_every: int = 10
    moments_dtype: Literal["float32", "bfloat16"] = "float32"
    workers: int = 2
    keep_checkpoints: int = 3
    store: StoreSampling | None = None  # train on the prepared store (stages 2 and 3) instead of the cache
    pack: ResidentSampling | None = None  # train on a training pack resident on the device (a GPU leg)
    dev_per_clip: int | None = 4  # dev triplets per clip scored at each validation (None: all)
    ema_decay: float = 0.0  # weights validated and saved are this moving average (0: the trained ones)
    worst_clip_floor: float = -0.05  # dB: dev weights whose worst clip loses more are never a stage's best
    patience: int = 0  # validations without a better dev gain before a store stage ends early (0: never)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        values = dict(values)
        store, pack = values.pop("store", None), values.pop("pack", None)
        return cls(
            store=StoreSampling.from_dict(store) if store else None,
            pack=ResidentSampling.from_dict(pack) if pack else None,
            stages=tuple(StageConfig(**s) for s in values.pop("stages")),
            data=DataConfig.from_dict(values.pop("data")),
            loss=LossWeights(**values.pop("loss")),
            betas=tuple(values.pop("betas")),  # type: ignore[arg-type]
            **values,
        )


def stage_data(config: TrainConfig, stage: StageConfig) -> DataConfig:
    """The data recipe at a stage's crop size; motion is capped at half the crop (a layer moving
    farther would simply leave the crop)."""
    synthetic = replace(
        config.data.synthetic,
        max_motion=min(config.data.synthetic.max_motion, stage.crop / 2),
        background_motion=min(config.data.synthetic.background_motion, stage.crop / 8),
    )
    return replace(config.data, crop=stage.crop, batch_size=stage.batch_size, synthetic=synthetic)
