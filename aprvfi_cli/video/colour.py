"""Colour tags of the output: they must describe the pixels actually encoded.

An RGB source (PNG in MOV, FFV1 bgr0, libx264rgb) encoded as YCbCr is converted with a
YCbCr matrix and a range, so copying its ``colorspace=gbr`` tag would make players that honour
the tag show wrong colours; a YCbCr source encoded as RGB is the reverse.
"""

from __future__ import annotations

from dataclasses import replace

import av

from aprvfi_cli.video.reader import ColorInfo

# FFmpeg enum values (AVColorSpace, AVColorRange)
SPACE_RGB, SPACE_BT709, SPACE_UNSPECIFIED, SPACE_BT601 = 0, 1, 2, 6
RANGE_LIMITED, RANGE_FULL = 1, 2
# what players assume for untagged video: BT.709 from 720 lines up, BT.601 below
_HD_LINES = 720


def is_rgb_format(pix_fmt: str) -> bool:
    """True for packed or planar RGB pixel formats (rgba, bgr0, gbrp...)."""
    try:
        return av.VideoFormat(pix_fmt).is_rgb
    except (ValueError, av.error.FFmpegError):
        return False


def encoded_colour(source: ColorInfo, pix_fmt: str, *, height: int, source_pix_fmt: str | None = None) -> ColorInfo:
    """The tags for frames encoded as ``pix_fmt`` from a source tagged ``source``.

    Args:
        source: the source's tags.
        pix_fmt: the output pixel format.
        height: the frame height (px): picks BT.709 or BT.601 for RGB -> YCbCr.
        source_pix_fmt: the source's pixel format, if known (an RGB one needs a matrix).

    Returns:
        ``source`` unchanged for YCbCr -> YCbCr; for RGB -> YCbCr the matrix and range the
        writer converts with (BT.709 or BT.601, limited range); for any -> RGB, ``gbr`` and
        full range. Primaries and transfer are kept: the conversion does not change them.
    """
    if is_rgb_format(pix_fmt):
        return replace(source, space=SPACE_RGB, range=RANGE_FULL)
    from_rgb = source.space == SPACE_RGB or (source_pix_fmt is not None and is_rgb_format(source_pix_fmt))
    if not from_rgb:
        return source
    matrix = SPACE_BT709 if height >= _HD_LINES else SPACE_BT601
    return replace(source, space=matrix, range=RANGE_LIMITED)
