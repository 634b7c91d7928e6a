"""Decoding the training cache: PyAV where it is installed, else Pillow / OpenCV.

The GPU machines that run the bulk of the training have Pillow and OpenCV but no PyAV, and
carrying PyAV's 36 MB wheel beside the cache would not fit their 64 MiB transfer limit; so the
training path imports PyAV only here, and only when it is there. PNG photos decode identically
either way; clip frames may differ by a code value where the YCbCr->RGB conversions differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np


def have_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def read_photo(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a still image."""
    if have_pyav():
        from aprvfi_cli.video.images import read_image

        return read_image(path)
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def clip_rate(path: str | Path) -> float:
    """The nominal frame rate of a clip (frames/s), 25 when the container declares none."""
    if have_pyav():
        import av

        from aprvfi_cli.video.reader import nominal_rate

        with av.open(str(path)) as container:
            rate = nominal_rate(container.streams.video[0])
        return float(rate) if rate else 25.0
    import cv2

    capture = cv2.VideoCapture(str(path))
    rate = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return float(rate) if rate and rate > 0 else 25.0


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Every decodable frame of a clip as (H, W, 3) uint8 RGB, in presentation order.

    Unlike the converter's strict reader, a clip whose index promises more frames than it
    holds (opencv's tree.avi) just ends early: for training and scoring, the frames it has suffice.
    """
    if have_pyav():
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            try:
                for frame in container.decode(stream):
                    yield frame.to_ndarray(format="rgb24")
            except av.error.FFmpegError:
                return
        return
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield np.ascontiguousarray(frame[..., ::-1])  # OpenCV decodes to BGR
    finally:
        capture.release()
