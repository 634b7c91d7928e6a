"""Encoding and muxing: a temporary file beside the target, renamed only on success.

Audio and subtitle packets of the source are copied without re-encoding (``packet_copy.py``),
interleaved with the video by time so memory stays bounded.
"""

from __future__ import annotations

import errno
import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from aprvfi_cli.errors import OutputError, UsageError
from aprvfi_cli.video.colour import encoded_colour
from aprvfi_cli.video.packet_copy import PacketCopier
from aprvfi_cli.video.reader import ColorInfo

CODEC_ALIASES = {
    "h264": ("libx264",),
    "avc": ("libx264",),
    "libx264": ("libx264",),
    "h265": ("libx265",),
    "hevc": ("libx265",),
    "libx265": ("libx265",),
    "av1": ("libsvtav1", "libaom-av1", "librav1e"),
    "libsvtav1": ("libsvtav1",),
    "libaom-av1": ("libaom-av1",),
}
_SWS_COLORSPACES = {1, 4, 5, 6, 7, 9}
_JPEG_FORMATS = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}
# packets of copied streams are muxed up to this far (s) ahead of the video
_INTERLEAVE_AHEAD = Fraction(1, 2)


@dataclass(frozen=True)
class EncodeSettings:
    """Video encoder choice. ``codec``: h264/h265/av1 or an FFmpeg encoder name; ``preset``:
    None picks the encoder's usual default; ``pix_fmt``: None keeps the source's when the
    encoder supports it (else the nearest 8- or 10-bit 4:2:0)."""

    codec: str = "h264"
    crf: int = 18
    preset: str | None = None
    pix_fmt: str | None = None


def resolve_encoder(codec: str) -> str:
    """The FFmpeg encoder for ``codec``; :class:`UsageError` if this build lacks it."""
    candidates = CODEC_ALIASES.get(codec.lower(), (codec,))
    available = av.codecs_available
    for name in candidates:
        if name in available:
            try:
                if av.Codec(name, "w").type == "video":
                    return name
            except av.error.FFmpegError:
                continue
    raise UsageError(f"video encoder {codec!r} is not available in this PyAV/FFmpeg build", subject="codec")


X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")  # fmt: skip


def check_preset(encoder: str, preset: str | None) -> None:
    """Reject a preset the encoder would refuse (before any work, with a usage error)."""
    if preset is None:
        return
    if encoder in ("libx264", "libx265") and preset not in X26X_PRESETS:
        raise UsageError(f"preset for {encoder} must be one of {', '.join(X26X_PRESETS)}", subject="preset")
    if encoder == "libsvtav1" and not (preset.isdigit() and 0 <= int(preset) <= 13):
        raise UsageError("preset for libsvtav1 must be a number from 0 (slowest) to 13 (fastest)", subject="preset")


def choose_pix_fmt(encoder: str, source: str, *, high_bit_depth: bool, wanted: str | None) -> str:
    """Keep ``source``'s pixel format if the encoder takes it; else the nearest 4:2:0."""
    supported = [f.name for f in av.Codec(encoder, "w").video_formats or []]
    if wanted:
        if supported and wanted not in supported:
            raise UsageError(f"{encoder} cannot encode pixel format {wanted!r}", subject="pix_fmt")
        return wanted
    source = _JPEG_FORMATS.get(source, source)  # full range is kept as a tag, not a format
    if not supported or source in supported:
        return source
    if high_bit_depth and "yuv420p10le" in supported:
        return "yuv420p10le"
    return "yuv420p" if "yuv420p" in supported else supported[0]


def fit_frame_size(encoder: str, pix_fmt: str, width: int, height: int, *, high_bit_depth: bool) -> str:
    """``pix_fmt`` when its chroma fits a ``width`` x ``height`` frame, else the encoder's 4:4:4 format.

    4:2:0 (and 4:2:2 across) halve the chroma, so they need an even size; an odd-sized source
    (an RGB screen capture, a cropped video) is then encoded in full-colour 4:4:4, as ffmpeg
    chooses for such sources, rather than cropped or padded. Raises :class:`UsageError` (subject
    ``codec``) when the encoder has no 4:4:4 format.
    """
    if _fits(pix_fmt, width, height):
        return pix_fmt
    supported = [f.name for f in av.Codec(encoder, "w").video_formats or []]
    for full in ("yuv444p10le", "yuv444p") if high_bit_depth else ("yuv444p",):
        if full in supported:
            return full
    raise UsageError(
        f"the video is {width}x{height}, and {encoder} encodes only subsampled chroma (4:2:0), which needs an "
        "even width and height; h264 and h265 encode it in 4:4:4",
        subject="codec",
    )


def _fits(pix_fmt: str, width: int, height: int) -> bool:
    fmt = av.VideoFormat(pix_fmt)
    return not (width % 2 and fmt.chroma_width(2) < 2) and not (height % 2 and fmt.chroma_height(2) < 2)


# output extensions and their muxers: the container is chosen from the name, before any work
OUTPUT_FORMATS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi",
    ".ts": "mpegts", ".mts": "mpegts", ".m2ts": "mpegts", ".flv": "flv", ".nut": "nut",
}  # fmt: skip


def output_format(target: Path, encoder: str) -> str:
    """The muxer for ``target``'s extension; :class:`UsageError` if it is unknown or cannot hold
    ``encoder``'s video (checked on an in-memory container, so nothing is written)."""
    suffix = target.suffix.lower()
    known = ", ".join(OUTPUT_FORMATS)
    if suffix not in OUTPUT_FORMATS:
        what = f"extension {suffix!r}" if suffix else "no extension"
        raise UsageError(f"cannot tell the output format of {target.name} ({what}); use one of {known}")
    name = OUTPUT_FORMATS[suffix]
    with av.open(io.BytesIO(), mode="w", format=name) as probe:
        try:
            probe.add_stream(encoder, rate=25)
        except ValueError:
            raise UsageError(
                f"{suffix} files cannot hold {encoder} video (choose another output extension or codec)",
                subject="codec",
            ) from None
    return name


def check_frame_size(pix_fmt: str, width: int, height: int) -> None:
    """Subsampled chroma (4:2:0, 4:2:2) needs an even width (and height for 4:2:0); the encoders
    otherwise fail with a bare "Generic error in an external library"."""
    fmt = av.VideoFormat(pix_fmt)
    odd_width = width % 2 and fmt.chroma_width(2) < 2
    odd_height = height % 2 and fmt.chroma_height(2) < 2
    if odd_width or odd_height:
        need = "an even width and height" if fmt.chroma_height(2) < 2 else "an even width"
        raise UsageError(
            f"pixel format {pix_fmt} needs {need}, but the video is {width}x{height}: "
            "choose a 4:4:4 pixel format (yuv444p) or pad the video to an even size",
            subject="pix_fmt",
        )


def temporary_path(target: Path) -> Path:
    """A hidden file beside ``target`` with the same extension (the muxer guesses from it)."""
    return target.with_name(f".{target.stem}.aprvfi-{os.getpid()}.part{target.suffix}")


class VideoWriter:
    """Encode RGB frames to ``target`` via a temporary file (use as a context manager).

    Args:
        target: the final output path.
        width, height: frame size (px).
        rate: the output's nominal frame rate (frames/s).
        time_base: units of the frame times given to :meth:`write` (s); every time must be a
            multiple of it.
        settings: encoder settings.
        source_pix_fmt, high_bit_depth: the source's format, kept when possible.
        color: colour tags to keep; rotation: display rotation (degrees) to keep.
        copy_from: a file whose audio/subtitle streams are copied (None: none).
        copy_offset: source time (s) that becomes 0 in the output (the first video pts).
    """

    def __init__(
        self,
        target: Path,
        *,
        width: int,
        height: int,
        rate: Fraction,
        time_base: Fraction,
        settings: EncodeSettings,
        source_pix_fmt: str = "yuv420p",
        high_bit_depth: bool = False,
        color: ColorInfo | None = None,
        rotation: int = 0,
        copy_from: Path | None = None,
        copy_offset: Fraction = Fraction(0),
    ) -> None:
        self.target = Path(target)
        self.temp = temporary_path(self.target)
        self.time_base = Fraction(time_base)
        self.rate = Fraction(rate)
        self.high_bit_depth = high_bit_depth
        self.frames_written = 0
        self.notes: list[str] = []
        self._last_pts: int | None = None
        self._copier: PacketCopier | None = None
        encoder = resolve_encoder(settings.codec)
        self.format = output_format(self.target, encoder)  # usage errors before the temporary file exists
        self.pix_fmt = choose_pix_fmt(encoder, source_pix_fmt, high_bit_depth=high_bit_depth, wanted=settings.pix_fmt)
        if settings.pix_fmt is None:  # the user's own choice is kept (or refused), never replaced
            usual, self.pix_fmt = (
                self.pix_fmt,
                fit_frame_size(encoder, self.pix_fmt, width, height, high_bit_depth=high_bit_depth),
            )
            if self.pix_fmt != usual:
                self.notes.append(
                    f"the video is {width}x{height}: {usual} needs an even width and height, so the output is "
                    f"{self.pix_fmt} (4:4:4, full colour; some players, browsers and phones among them, play only "
                    "4:2:0)"
                )
        check_frame_size(self.pix_fmt, width, height)
        # the tags must describe what is encoded (an RGB source becomes YCbCr, and back)
        self.color = encoded_colour(color or ColorInfo(), self.pix_fmt, height=height, source_pix_fmt=source_pix_fmt)
        # One guard from the temporary file's creation on: a signal that lands while PyAV opens it
        # (the moment a watcher first sees the file) must remove it too.
        try:
            try:
                self.temp.open("wb").close()  # PyAV opens lazily: fail now, not at the first packet
                self.container = av.open(str(self.temp), mode="w", format=self.format)
            except (OSError, av.error.FFmpegError) as error:
                reason = getattr(error, "strerror", None) or str(error)
                raise OutputError(f"cannot write to {self.target.parent}: {reason}") from error
            self._setup_video(encoder, settings, width, height, rotation)
            if copy_from is not None:
                self._copier = PacketCopier(copy_from, self.container, offset=copy_offset, mux=self._mux_copied)
        except BaseException:  # an error or a signal: the temporary file must go
            self.abort()
            raise

    def _setup_video(self, encoder: str, settings: EncodeSettings, width: int, height: int, rotation: int) -> None:
        try:
            stream = self.container.add_stream(encoder, rate=self.rate)
        except ValueError as error:  # e.g. H.264 in .webm
            raise UsageError(
                f"{self.target.suffix or 'this'} files cannot hold {encoder} video "
                "(choose another output extension or codec)",
                subject="codec",
            ) from error
        stream.width, stream.height = width, height
        stream.pix_fmt = self.pix_fmt
        stream.time_base = self.time_base
        ctx = stream.codec_context
        ctx.time_base = self.time_base
        ctx.color_primaries = self.color.primaries
        ctx.color_trc = self.color.trc
        ctx.colorspace = self.color.space
        ctx.color_range = self.color.range
        options = {"crf": str(settings.crf)}
        preset = settings.preset or ("8" if encoder == "libsvtav1" else "medium")
        if encoder != "libaom-av1":
            options["preset"] = preset
        if encoder == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to fd 2 otherwise
        if encoder == "libx265":
            options["x265-params"] = "log-level=error"
        stream.options = options
        if rotation:
            stream.set_display_rotation(rotation)
        self.stream = stream

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    def _mux(self, packet: av.Packet) -> None:
        """Hand one packet to the muxer (a separate method so tests can simulate a full disk)."""
        self.container.mux(packet)

    def _safe_mux(self, packet: av.Packet) -> None:
        try:
            self._mux(packet)
        except OSError as error:
            raise self._os_error(error) from error
        except av.error.FFmpegError as error:
            raise OutputError(f"cannot write {self.target}: {error.strerror}") from error

    def _mux_copied(self, packet: av.Packet) -> None:
        """Mux a copied packet; the muxer's refusal of its timestamps reaches the copier, which drops it."""
        try:
            self._mux(packet)
        except OSError as error:
            raise self._os_error(error) from error
        except av.error.ArgumentError:
            raise
        except av.error.FFmpegError as error:
            raise OutputError(f"cannot write {self.target}: {error.strerror}") from error

    def _os_error(self, error: OSError) -> OutputError:
        if error.errno == errno.ENOSPC:
            return OutputError(f"no space left on device while writing {self.target}")
        return OutputError(f"cannot write {self.target}: {error.strerror or error}")

    @property
    def copied_packets(self) -> int:
        return self._copier.packets if self._copier else 0

    @property
    def copied_bytes(self) -> int:
        return self._copier.bytes if self._copier else 0

    def _copy_until(self, until: Fraction | None) -> None:
        """Mux copied packets whose time is before ``until`` (s, output time; None: all)."""
        if self._copier is not None:
            self._copier.copy_until(until)

    def write(self, image: np.ndarray, time: Fraction) -> None:
        """Encode one (H, W, 3) RGB frame (uint8, or uint16 for high bit depth) at ``time`` s."""
        fmt = "rgb48le" if image.dtype == np.uint16 else "rgb24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=fmt)
        space = self.color.space if self.color.space in _SWS_COLORSPACES else None
        rng = self.color.range if self.color.range in (1, 2) else None
        frame = frame.reformat(format=self.pix_fmt, dst_colorspace=space, dst_color_range=rng)
        pts = Fraction(time) / self.time_base
        frame.pts = round(pts)
        if self._last_pts is not None and frame.pts <= self._last_pts:
            frame.pts = self._last_pts + 1  # rounding must never reorder frames
        self._last_pts = frame.pts
        frame.time_base = self.time_base
        frame.duration = max(1, round(1 / (self.rate * self.time_base)))
        self._copy_until(Fraction(time) + _INTERLEAVE_AHEAD)
        try:
            packets = self.stream.encode(frame)
        except av.error.FFmpegError as error:
            raise OutputError(f"encoder failed on {self.target}: {error.strerror}") from error
        for packet in packets:
            self._safe_mux(packet)
        self.frames_written += 1

    def finish(self) -> None:
        """Flush the encoder, copy the remaining packets, close and rename onto the target."""
        try:
            for packet in self.stream.encode(None):
                self._safe_mux(packet)
            self._copy_until(None)
            self.container.close()
            self._close_input()
            os.replace(self.temp, self.target)
        except OSError as error:
            self.abort()
            raise self._os_error(error) from error
        except av.error.FFmpegError as error:
            self.abort()
            raise OutputError(f"cannot finish {self.target}: {error.strerror}") from error
        except BaseException:  # a signal too: the temporary file must go
            self.abort()
            raise

    def _close_input(self) -> None:
        if self._copier is not None and not self._copier.closed:
            self._copier.close()
            self.notes.extend(self._copier.notes)

    def _remove_temp(self) -> None:
        try:
            self.temp.unlink(missing_ok=True)
        except OSError:
            pass

    def abort(self) -> None:
        """Close everything and delete the temporary file; the target is never touched."""
        try:
            self.container.close()
        except Exception:  # a half-written file may fail to close, or never opened; the file goes anyway
            pass
        self._close_input()
        self._remove_temp()
