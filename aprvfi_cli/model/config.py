"""Model configuration: a dataclass with the paper's defaults, and a tiny preset for tests."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of :class:`aprvfi_cli.model.APRVFI`.

    Attributes:
        patch_size: side of the square patches the router and refine blocks work on (px).
        num_blocks: refine blocks in the synthesis network.
        num_static_blocks: leading blocks that always process every patch.
        keep_ratios: per dynamic block, the fraction of patches the reference route map keeps
            (training target) and the default of the keep-ratio dial.
        block_widths: channels of a refine block at full, 1/2 and 1/4 resolution; the first is
            also the width of the feature carried between blocks.
        context_channels: channels of each context feature level (one level per block).
        router_channels: channels of the router's convolutions.
        flow_levels: pyramid levels of the flow network; None picks from the frame width.
        correlation_radius: radius of the local correlation in the flow network.
    """

    patch_size: int = 64
    num_blocks: int = 5
    num_static_blocks: int = 1
    keep_ratios: tuple[float, ...] = (0.1, 0.4, 0.6, 0.9)
    block_widths: tuple[int, int, int] = (20, 48, 96)
    context_channels: int = 12
    router_channels: int = 16
    flow_levels: int | None = None
    correlation_radius: int = 4
    name: str = field(default="paper", compare=False)

    def __post_init__(self) -> None:
        if self.num_static_blocks < 1 or self.num_static_blocks > self.num_blocks:
            raise ValueError("num_static_blocks must be in [1, num_blocks]")
        if len(self.keep_ratios) != self.num_dynamic_blocks:
            raise ValueError(
                f"keep_ratios needs {self.num_dynamic_blocks} values (one per dynamic block), "
                f"got {len(self.keep_ratios)}"
            )
        if any(not 0.0 <= r <= 1.0 for r in self.keep_ratios):
            raise ValueError("keep ratios must lie in [0, 1]")
        if self.patch_size % 4:
            raise ValueError("patch_size must be a multiple of 4 (two stride-2 stages per block)")

    @property
    def num_dynamic_blocks(self) -> int:
        return self.num_blocks - self.num_static_blocks

    def levels_for_width(self, width: int) -> int:
        """Flow pyramid levels for a frame ``width`` px wide: ceil(log2(W/448) + 3) in [3, 7]."""
        if self.flow_levels is not None:
            return self.flow_levels
        return int(min(7, max(3, math.ceil(math.log2(max(width, 1) / 448) + 3))))

    def pad_multiple(self, levels: int) -> int:
        """Frames are padded to a multiple of both the patch and the flow pyramid's stride."""
        return math.lcm(self.patch_size, 2 ** (levels + 1))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        values = dict(values)
        for key in ("keep_ratios", "block_widths"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def paper(cls) -> ModelConfig:
        """The paper's model: 64-px patches, 5 blocks (1 static), keep ratios 0.1/0.4/0.6/0.9."""
        return cls()

    @classmethod
    def tiny(cls) -> ModelConfig:
        """A small synthesis network on 16-px patches, for fast tests (same flow network)."""
        return cls(
            patch_size=16,
            block_widths=(8, 12, 16),
            context_channels=4,
            router_channels=8,
            flow_levels=3,
            name="tiny",
        )

    @classmethod
    def preset(cls, name: str) -> ModelConfig:
        presets = {"paper": cls.paper, "tiny": cls.tiny}
        if name not in presets:
            raise ValueError(f"unknown model preset {name!r}; choose from {sorted(presets)}")
        return presets[name]()
