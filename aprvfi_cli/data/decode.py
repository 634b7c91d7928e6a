"""Decoding training and evaluation clips and photos with PyAV.

PyAV is imported where a clip is decoded: the GPU leg imports the data layer on a machine without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np


def clip_rate(path: str | Path) -> float:
    """The nominal frame rate of a clip (frames/s), 25 when the container declares none."""
    import av

    from aprvfi_cli.video.reader import nominal_rate

    with av.open(str(path)) as container:
        rate = nominal_rate(container.streams.video[0])
    return float(rate) if rate else 25.0


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Every decodable frame of a clip as (H, W, 3) uint8 RGB, in presentation order.

    Unlike the converter's strict reader, a clip whose index promises more frames than it
    holds (opencv's tree.avi) just ends early: for training and scoring, the frames it has suffice.
    """
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError:
            return
