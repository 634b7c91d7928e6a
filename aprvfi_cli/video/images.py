"""Still images through PyAV (no PIL): read any format FFmpeg decodes, write PNG."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from aprvfi_cli.errors import InputError, OutputError
from aprvfi_cli.video.reader import check_input_path


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; :class:`InputError` if it is not one."""
    path = check_input_path(Path(path))
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise InputError(f"not an image: {path}")
            for frame in container.decode(video=0):
                return frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as error:
        raise InputError(f"cannot read image {path}: {error.strerror}") from error
    raise InputError(f"no picture in {path}")


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB as PNG, via a temporary file renamed on success."""
    path = Path(path)
    temp = path.with_name(f".{path.stem}.aprvfi-part.png")
    try:
        with av.open(str(temp), mode="w", format="image2") as container:
            stream = container.add_stream("png")
            stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "rgb24"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        temp.replace(path)
    except (OSError, av.error.FFmpegError) as error:
        temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {getattr(error, 'strerror', None) or error}") from error


def numbered(path: Path, count: int) -> list[Path]:
    """``mid.png`` -> ``mid_1.png`` ... ``mid_<count>.png``."""
    width = len(str(count))
    return [path.with_name(f"{path.stem}_{k:0{width}d}{path.suffix or '.png'}") for k in range(1, count + 1)]
