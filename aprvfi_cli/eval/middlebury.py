"""The Middlebury "other" interpolation set: frame10 + frame11 -> frame10i11."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aprvfi_cli.video.images import read_image


@dataclass(frozen=True)
class Triplet:
    """Two input frames and the true middle frame, (H, W, 3) uint8 each."""

    name: str
    frame0: np.ndarray
    truth: np.ndarray
    frame1: np.ndarray


def middlebury_triplets(root: str | Path) -> list[Triplet]:
    """Every sequence of ``root/other-gt-interp`` with its inputs from ``root/other-data``."""
    root = Path(root)
    truths = sorted((root / "other-gt-interp").glob("*/frame10i11.png"))
    if not truths:
        raise FileNotFoundError(f"no Middlebury ground truth under {root}/other-gt-interp")
    return [
        Triplet(
            name=path.parent.name,
            frame0=read_image(root / "other-data" / path.parent.name / "frame10.png"),
            truth=read_image(path),
            frame1=read_image(root / "other-data" / path.parent.name / "frame11.png"),
        )
        for path in truths
    ]
