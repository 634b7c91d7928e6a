"""Joining encoded segments into the output by remuxing (no re-encode), audio muxed once.

The segments were encoded with the output's time base, each with times from 0, so their
packets go into one container shifted by the segment's start time, bytes unchanged. The
source's audio and subtitle packets are copied once, interleaved by time, as the
single-machine writer does (``video/packet_copy.py``). The output is a hidden temporary file
renamed onto the target only when complete.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av

from aprvfi_cli.cluster.plan import OutputStream
from aprvfi_cli.errors import OutputError
from aprvfi_cli.video.packet_copy import PacketCopier
from aprvfi_cli.video.writer import temporary_path

# copied packets are muxed up to this far (s) ahead of the video, as the writer does
_INTERLEAVE_AHEAD = Fraction(1, 2)


class _Join:
    """The output container being filled (temporary file), its video stream and copier."""

    def __init__(self, target: Path, template: av.video.stream.VideoStream, stream: OutputStream) -> None:
        self.target = target
        self.temp = temporary_path(target)
        self.container = av.open(str(self.temp), mode="w")
        self.video = self.container.add_stream_from_template(template)
        self.video.time_base = stream.time_base
        if stream.rotation:
            self.video.set_display_rotation(stream.rotation)
        self.extradata = template.codec_context.extradata
        self.copier: PacketCopier | None = None
        self.packets = 0

    def add_part(self, part: Path, start: Fraction) -> None:
        """Mux every video packet of ``part``, ``start`` (s) later than its own times."""
        with av.open(str(part)) as container:
            video = container.streams.video[0]
            if video.codec_context.extradata != self.extradata:
                raise OutputError(f"cannot join the segments of {self.target}: their encoder headers differ")
            for packet in container.demux(video):
                if packet.size == 0:
                    continue
                tb = Fraction(packet.time_base)
                shift = start / tb
                if shift.denominator != 1:
                    raise OutputError(f"cannot join the segments of {self.target}: {start} s is off the time grid")
                packet.pts += int(shift)
                if packet.dts is not None:
                    packet.dts += int(shift)
                if self.copier is not None:
                    self.copier.copy_until(packet.pts * tb + _INTERLEAVE_AHEAD)
                packet.stream = self.video
                self.container.mux(packet)
                self.packets += 1


def join_segments(
    parts: Sequence[tuple[Path, Fraction]], target: Path, *, stream: OutputStream, copy_from: Path | None
) -> tuple[int, list[str]]:
    """Remux ``parts`` (path, start time in s; in order) into ``target`` with the audio/subtitles
    of ``copy_from``.

    Returns (copied audio/subtitle packets, notes). Raises :class:`OutputError`; the target is
    written only when everything succeeded, and the temporary file never outlives the call.
    """
    temp, join = temporary_path(target), None
    try:
        with av.open(str(parts[0][0])) as first:
            join = _Join(target, first.streams.video[0], stream)
        if copy_from is not None:
            join.copier = PacketCopier(copy_from, join.container, offset=stream.first_pts, mux=join.container.mux)
        for part, start in parts:
            join.add_part(part, start)
        notes: list[str] = []
        copied = 0
        if join.copier is not None:
            join.copier.copy_until(None)
            join.copier.close()
            notes, copied = join.copier.notes, join.copier.packets
        join.container.close()
        os.replace(join.temp, target)
        return copied, notes
    except OSError as error:
        reason = "no space left on device" if error.errno == errno.ENOSPC else (error.strerror or str(error))
        raise OutputError(f"cannot write {target}: {reason}") from error
    except av.error.FFmpegError as error:
        raise OutputError(f"cannot join the segments into {target}: {error.strerror}") from error
    finally:
        if temp.exists():  # failed: close what is open, the half-written file goes
            for opened in (join.container, join.copier) if join is not None else ():
                try:
                    if opened is not None:
                        opened.close()
                except Exception:  # closing a half-written file may fail again; it goes anyway
                    pass
            temp.unlink(missing_ok=True)
