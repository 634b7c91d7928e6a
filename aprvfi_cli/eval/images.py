"""Reading and writing still images (PNG, JPEG...) with PyAV, as HxWx3 uint8 RGB arrays."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def read_image(path: str | Path) -> np.ndarray:
    """Decode the first frame of an image file to an (H, W, 3) uint8 RGB array."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24")


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode an (H, W, 3) uint8 RGB array as a PNG file."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height = image.shape[1], image.shape[0]
        stream.pix_fmt = "rgb24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
