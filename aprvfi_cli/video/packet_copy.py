"""Audio and subtitle packets copied from the source, with their timestamps repaired.

Packets are copied without re-encoding and interleaved with the video by time, so memory stays
bounded. A muxer refuses timestamps that do not increase; one bad packet must not fail the whole
job, so, as ffmpeg does, a jump back in a discontinuous container (MPEG-TS, e.g. files joined
with ``cat``) continues the stream where it was, and elsewhere a packet whose time goes back
(or, for audio, leaps more than 10 s ahead) is dropped. Every repair or drop is counted in a note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from aprvfi_cli.video.declared import is_discontinuous

# ffmpeg's -dts_delta_threshold: a larger leap is a broken timestamp, not a gap
_MAX_LEAP = Fraction(10)
# in MPEG-TS a jump back larger than this starts a new segment; a smaller one is a bad packet
_SEGMENT_JUMP = Fraction(1, 10)


@dataclass
class _Track:
    """One copied stream: where it goes and the state of its timestamp repair."""

    output: av.stream.Stream
    kind: str
    last_dts: int | None = None  # in the source stream's ticks, after repair
    last_duration: int = 0
    correction: int = 0  # ticks added after a repaired discontinuity
    repaired: int = 0
    dropped: int = 0


class PacketCopier:
    """Copies the audio/subtitle streams of ``source`` into ``container``.

    Args:
        source: the input file (opened a second time, so video decoding is independent).
        container: the output container (streams are added to it here).
        offset: source time (s) that becomes 0 in the output (the first video pts).
        mux: hands one packet to the muxer.
    """

    def __init__(
        self,
        source: Path,
        container: av.container.OutputContainer,
        *,
        offset: Fraction,
        mux: Callable[[av.Packet], None],
    ) -> None:
        self.input = av.open(str(source), mode="r", metadata_errors="replace")
        self.offset = Fraction(offset)
        self.mux = mux
        self.packets = 0
        self.bytes = 0
        self.notes: list[str] = []
        self.closed = False
        self._discontinuous = is_discontinuous(self.input)
        self._strict = not container.format.flags & av.format.Flags.ts_nonstrict.value
        self._tracks: dict[int, _Track] = {}
        self._pending: av.Packet | None = None
        streams = []
        for s in self.input.streams:
            if s.type not in ("audio", "subtitle"):
                continue
            name = s.codec_context.name if s.codec_context else None
            if name is None or name not in container.supported_codecs:
                self.notes.append(f"{s.type} stream #{s.index} ({name}) cannot go in this container")
                continue
            self._tracks[s.index] = _Track(container.add_stream_from_template(s), s.type)
            streams.append(s)
        self._packets: Iterator[av.Packet] | None = iter(self.input.demux(*streams)) if streams else None

    def copy_until(self, until: Fraction | None) -> None:
        """Mux copied packets whose time is before ``until`` (s, output time; None: all)."""
        while self._packets is not None:
            packet = self._pending
            if packet is None:
                packet = next(self._packets, None)
                if packet is None:
                    self._packets = None
                    return
                if packet.dts is None and packet.pts is None or packet.size == 0:
                    continue
                if not self._repair(packet, self._tracks[packet.stream.index]):
                    continue
            tb = Fraction(packet.time_base)
            if until is not None and packet.dts * tb - self.offset > until:
                self._pending = packet
                return
            self._pending = None
            self._mux(packet, tb)

    def _mux(self, packet: av.Packet, tb: Fraction) -> None:
        track = self._tracks[packet.stream.index]
        shift = round(self.offset / tb)
        if packet.pts is not None:
            packet.pts -= shift
        packet.dts -= shift
        packet.stream = track.output
        try:
            self.mux(packet)
        except av.error.ArgumentError:  # the muxer still refuses its timestamps: drop it, not the job
            track.dropped += 1
            return
        self.packets += 1
        self.bytes += packet.size

    def _repair(self, packet: av.Packet, track: _Track) -> bool:
        """Repair the packet's timestamps in place; False (and counted) if it must be dropped."""
        tb = Fraction(packet.time_base)
        if packet.dts is None:
            packet.dts = packet.pts
        if packet.pts is not None and packet.pts < packet.dts:
            track.dropped += 1
            return False
        dts = packet.dts + track.correction
        if track.last_dts is not None:
            step = (dts - track.last_dts) * tb
            # audio is continuous, so a long leap is a broken time; subtitles may be minutes apart
            leap = track.kind == "audio" and step > _MAX_LEAP
            if self._discontinuous and (step < -_SEGMENT_JUMP or leap):
                # a new segment: continue right after the previous packet
                track.correction += track.last_dts + max(1, track.last_duration) - dts
                dts = track.last_dts + max(1, track.last_duration)
                track.repaired += 1
            elif step < 0 or (step == 0 and self._strict) or leap:
                track.dropped += 1
                return False
        if packet.pts is not None:
            packet.pts += dts - packet.dts
        packet.dts = dts
        track.last_dts, track.last_duration = dts, int(packet.duration or 0)
        return True

    def close(self) -> None:
        """Close the second demuxer of the source and note every repair and drop."""
        for index, track in self._tracks.items():
            if track.repaired:
                self.notes.append(
                    f"{track.kind} stream #{index}: timestamps jumped {track.repaired} time(s); "
                    "continued in order (joined files?)"
                )
            if track.dropped:
                self.notes.append(f"{track.kind} stream #{index}: {track.dropped} packets dropped (broken timestamps)")
        self.input.close()
        self.closed = True
