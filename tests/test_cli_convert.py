"""`aprvfi convert` and `aprvfi slowmo` end to end on generated clips."""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import audio_packets, make_clip, read_video


def close_times(got: list[F], want: list[F], tick: F) -> bool:
    return len(got) == len(want) and all(abs(a - b) <= tick for a, b in zip(got, want, strict=True))


def stream_facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        v = container.streams.video[0]
        frame = next(container.decode(v))
        facts = {
            "pix_fmt": v.codec_context.pix_fmt,
            "size": (v.codec_context.width, v.codec_context.height),
            "rate": F(v.average_rate),
            "tick": F(v.time_base),
            "color": (frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range),
            "rotation": frame.rotation,
            "audio": [F(a.duration) * F(a.time_base) for a in container.streams.audio],
            "kinds": sorted(s.type for s in container.streams),
        }
    return facts


@pytest.mark.parametrize(
    ("rate_in", "fps", "frames", "expected"),
    [
        (F(30), "60", 15, 30),
        (F(24), "60", 12, 30),
        (F(25), "50", 10, 20),
        (F(30000, 1001), "59.94", 12, 24),
        (F(30), "24", 15, 12),
        (F(25), "60000/1001", 10, 24),
    ],
)
def test_convert_exact_times_and_duration(cli, tmp_path, rate_in, fps, frames, expected) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=frames, rate=rate_in)
    out = tmp_path / "out.mp4"
    result = cli("convert", source, "--fps", fps, "-o", out)
    assert result.code == 0, result.err
    times, images, _ = read_video(out)
    facts = stream_facts(out)
    rate_out = facts["rate"]
    from aprvfi_cli.video.timeline import parse_rate

    assert rate_out == parse_rate(fps)
    assert len(times) == expected
    assert close_times(times, [F(n) / rate_out for n in range(expected)], facts["tick"])
    duration_in = F(frames) / rate_in
    assert abs(F(expected) / rate_out - duration_in) < 1 / rate_out
    assert facts["size"] == (64, 48) and facts["pix_fmt"] == "yuv420p"


def test_convert_copies_source_frames_at_t0(cli, tmp_path) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=10, rate=F(25))
    out = tmp_path / "out.mp4"
    assert cli("convert", source, "--fps", "50", "-o", out, "--crf", "0").code == 0
    _, src, _ = read_video(source)
    _, made, _ = read_video(out)
    for i in range(1, 9):  # every even output frame is source frame i, re-encoded
        error = np.abs(made[2 * i].astype(int) - src[i]).mean()
        assert error < 2.5  # YCbCr round trip and chroma subsampling only
        assert error < 0.5 * min(np.abs(made[2 * i].astype(int) - src[j]).mean() for j in (i - 1, i + 1))


def test_convert_keeps_audio_packets_and_sync(cli, clips, tmp_path) -> None:
    out = tmp_path / "out.mp4"
    assert cli("convert", clips["audio"], "--fps", "60", "-o", out).code == 0
    assert audio_packets(out) == audio_packets(clips["audio"])  # same bytes, same pts
    facts, original = stream_facts(out), stream_facts(clips["audio"])
    assert facts["audio"] == original["audio"]
    times, _, _ = read_video(out)
    assert len(times) == 30 and abs(F(30, 60) - facts["audio"][0]) < F(1, 60) + F(1024, 48000)


def test_convert_multi_and_default_name(cli, clips, tmp_path) -> None:
    import shutil

    source = tmp_path / "clip.mp4"
    shutil.copy(clips["plain"], source)
    assert cli("convert", source, "--multi", "2", "-q").code == 0
    out = tmp_path / "clip.60fps.mp4"
    assert out.exists() and len(read_video(out)[0]) == 24


def test_convert_keeps_10bit_colour_and_rotation(cli, tmp_path) -> None:
    source = make_clip(tmp_path / "ten.mp4", frames=8, pix_fmt="yuv420p10le", color=(1, 1, 1, 1), rotation=90)
    out = tmp_path / "out.mp4"
    assert cli("convert", source, "--fps", "60", "-o", out).code == 0
    facts = stream_facts(out)
    assert facts["pix_fmt"] == "yuv420p10le"
    assert facts["color"] == (1, 1, 1, 1)
    assert facts["rotation"] == 90
    assert facts["size"] == (64, 48)


@pytest.mark.parametrize(("codec", "encoder", "name"), [("h265", "libx265", "hevc"), ("av1", "libsvtav1", "av1")])
def test_convert_other_codecs(cli, tmp_path, clips, codec, encoder, name, capfd) -> None:
    if encoder not in av.codecs_available:
        pytest.skip(f"no {encoder} in this build")
    out = tmp_path / "out.mkv"
    result = cli("convert", clips["plain"], "--fps", "60", "--codec", codec, "-o", out, "-q")
    assert result.code == 0 and result.err == ""  # no encoder chatter
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.codec.id == av.Codec(name).id
    assert len(read_video(out)[0]) == 24


def test_convert_variable_frame_rate(cli, tmp_path) -> None:
    pts = [F(0), F(1, 30), F(3, 30), F(4, 30), F(7, 30), F(8, 30), F(9, 30)]
    source = make_clip(tmp_path / "vfr.mp4", frames=len(pts), pts=pts)
    from aprvfi_cli.video.probe import probe

    assert probe(source).variable
    out = tmp_path / "out.mp4"
    assert cli("convert", source, "--fps", "30", "-o", out).code == 0
    times, _, _ = read_video(out)
    facts = stream_facts(out)
    assert len(times) == 10  # 0 .. 9/30 plus the last frame's 1/30
    assert close_times(times, [F(n, 30) for n in range(10)], facts["tick"])
    assert not probe(out).variable


def test_scene_cut_is_not_blended(cli, tmp_path) -> None:
    source = make_clip(tmp_path / "cut.mp4", frames=10, cut_at=5)
    _, src, _ = read_video(source)
    out = tmp_path / "out.mp4"
    assert cli("convert", source, "--fps", "60", "-o", out).code == 0
    _, made, _ = read_video(out)
    mid = made[9].astype(int)  # t = 0.5 between source frames 4 and 5 (the cut): a repeat of frame 4
    nearest = min(np.abs(mid - src[4]).mean(), np.abs(mid - src[5]).mean())
    assert nearest < 3.0  # a re-encoded repeat; a blend is > 5
    blended = tmp_path / "blended.mp4"
    assert cli("convert", source, "--fps", "60", "-o", blended, "--scene-threshold", "0").code == 0
    mixed = read_video(blended)[1][9].astype(int)
    assert min(np.abs(mixed - src[4]).mean(), np.abs(mixed - src[5]).mean()) > 5.0


@pytest.mark.parametrize(("factor", "expected"), [("2", 20), ("4", 40), ("2.5", 25)])
def test_slowmo_counts_rate_and_audio(cli, clips, tmp_path, factor, expected) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=10, audio=True)
    out = tmp_path / "out.mp4"
    result = cli("slowmo", source, "--factor", factor, "-o", out)
    assert result.code == 0, result.err
    assert "audio dropped" in result.err
    times, _, _ = read_video(out)
    facts = stream_facts(out)
    assert len(times) == expected
    assert facts["rate"] == 30 and facts["kinds"] == ["video"]
    assert close_times(times, [F(n, 30) for n in range(expected)], facts["tick"])


def test_slowmo_keep_audio_and_default_name(cli, tmp_path) -> None:
    source = make_clip(tmp_path / "clip.mp4", frames=6, audio=True)
    result = cli("slowmo", source, "--keep-audio")
    assert result.code == 0
    out = tmp_path / "clip.slowmo2x.mp4"
    assert audio_packets(out) == audio_packets(source)
    assert len(read_video(out)[0]) == 12


def test_convert_copies_subtitles(cli, clips, tmp_path) -> None:
    from conftest import subtitle_packets, with_subtitles

    srt = "1\n00:00:00,000 --> 00:00:00,200\nHello\n\n2\n00:00:00,250 --> 00:00:00,400\nWorld\n"
    source = with_subtitles(clips["audio"], tmp_path / "sub.mkv", srt)
    result = cli("convert", source, "--fps", "60", "-q")
    assert result.code == 0, result.err
    out = tmp_path / "sub.60fps.mkv"
    assert [data for _, data in subtitle_packets(out)] == [b"Hello", b"World"]
    assert subtitle_packets(out) == subtitle_packets(source)
    assert audio_packets(out) == audio_packets(source)


def test_convert_keeps_audio_offset_when_video_starts_late(cli, tmp_path) -> None:
    """Video starting 0.1 s after the audio: the output shifts both by the same amount."""
    pts = [F(1, 10) + F(i, 30) for i in range(9)]
    source = make_clip(tmp_path / "late.mp4", frames=9, pts=pts, audio=True)
    out = tmp_path / "out.mp4"
    assert cli("convert", source, "--fps", "60", "-o", out).code == 0

    def offset(path: Path) -> F:
        """First video time minus first audio time (s)."""
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            frame = next(container.decode(video))
            first_video = F(frame.pts) * F(frame.time_base)
            audio = container.streams.audio[0]
            first_audio = min(p.pts for p in container.demux(audio) if p.size) * F(audio.time_base)
        return first_video - first_audio

    assert abs(offset(out) - offset(source)) <= F(1, 1000)
    assert [d for _, d in audio_packets(out)] == [d for _, d in audio_packets(source)]
