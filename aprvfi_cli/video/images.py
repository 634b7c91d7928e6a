"""Still images through PyAV (no PIL): read any format FFmpeg decodes, write PNG."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from aprvfi_cli.errors import InputError, OutputError, UsageError
from aprvfi_cli.video.reader import check_input_path


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; :class:`InputError` if it is not one."""
    path = check_input_path(Path(path))
    try:
        with av.open(str(path), mode="r", metadata_errors="replace") as container:
            if not container.streams.video:
                raise InputError(f"not an image: {path}")
            for frame in container.decode(video=0):
                return frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as error:
        raise InputError(f"cannot read image {path}: {error.strerror}") from error
    raise InputError(f"no picture in {path}")


# image extensions -> (encoder, pixel format, encoder options): the data matches the name
IMAGE_FORMATS = {
    ".png": ("png", "rgb24", {}),
    ".jpg": ("mjpeg", "yuvj444p", {"qscale": "2"}),
    ".jpeg": ("mjpeg", "yuvj444p", {"qscale": "2"}),
    ".bmp": ("bmp", "bgr24", {}),
    ".tif": ("tiff", "rgb24", {}),
    ".tiff": ("tiff", "rgb24", {}),
}


def image_format(path: Path) -> tuple[str, str, dict[str, str]]:
    """Encoder, pixel format and options for ``path``'s extension; :class:`UsageError` if unknown."""
    suffix = path.suffix.lower()
    if suffix not in IMAGE_FORMATS:
        what = f"extension {suffix!r}" if suffix else "no extension"
        raise UsageError(f"cannot tell the image format of {path.name} ({what}); use one of {', '.join(IMAGE_FORMATS)}")
    return IMAGE_FORMATS[suffix]


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB in the format its extension names (PNG, JPEG, BMP, TIFF), via a
    temporary file renamed on success."""
    path = Path(path)
    codec, pix_fmt, options = image_format(path)
    temp = path.with_name(f".{path.stem}.aprvfi-part{path.suffix}")
    try:
        with av.open(str(temp), mode="w", format="image2") as container:
            stream = container.add_stream(codec)
            stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], pix_fmt
            stream.options = options
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if pix_fmt != "rgb24":
                frame = frame.reformat(format=pix_fmt)
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        temp.replace(path)
    except (OSError, av.error.FFmpegError) as error:
        temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {getattr(error, 'strerror', None) or error}") from error
    except BaseException:  # a signal too: no temporary file is left behind
        temp.unlink(missing_ok=True)
        raise


def numbered(path: Path, count: int) -> list[Path]:
    """``mid.png`` -> ``mid_1.png`` ... ``mid_<count>.png``."""
    width = len(str(count))
    return [path.with_name(f"{path.stem}_{k:0{width}d}{path.suffix or '.png'}") for k in range(1, count + 1)]
