"""Reader and writer: exact pts, bit depth, colour, rotation, atomic output, packet copy."""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest
from conftest import audio_packets, make_clip, pattern, read_video

from aprvfi_cli.errors import InputError, OutputError, UsageError
from aprvfi_cli.video.reader import ColorInfo, VideoReader
from aprvfi_cli.video.writer import EncodeSettings, VideoWriter, choose_pix_fmt, resolve_encoder


def test_reader_exact_pts_ntsc(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "ntsc.mp4", frames=7, rate=F(30000, 1001))
    with VideoReader(source) as reader:
        frames = list(reader.frames())
        assert reader.rate == F(30000, 1001)
        assert reader.end_time(frames[-1].pts, frames[-2].pts) == F(7 * 1001, 30000)
    assert [f.pts for f in frames] == [F(1001 * i, 30000) for i in range(7)]
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8


def test_reader_10bit_colour_rotation(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "ten.mp4", frames=3, pix_fmt="yuv420p10le", color=(9, 16, 9, 1), rotation=-90)
    with VideoReader(source) as reader:
        frame = next(reader.frames())
        assert reader.high_bit_depth and frame.image.dtype == np.uint16
        assert reader.color == ColorInfo(9, 16, 9, 1)
        assert reader.rotation == -90
    # 10 bits survive: the levels are finer than 8-bit steps
    assert len(np.unique(frame.image % 257)) > 1


def test_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        VideoReader(tmp_path / "missing.mp4")
    with pytest.raises(UsageError):
        VideoReader(tmp_path)
    (tmp_path / "junk.mkv").write_bytes(b"\x1a\x45" + b"junk" * 200)
    with pytest.raises(InputError):
        VideoReader(tmp_path / "junk.mkv")


def writer(target: Path, **kwargs) -> VideoWriter:
    options = dict(width=64, height=48, rate=F(30), time_base=F(1, 30), settings=EncodeSettings())
    options.update(kwargs)
    return VideoWriter(target, **options)


def test_writer_atomic_success_and_abort(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with writer(target) as w:
        for i in range(4):
            w.write(pattern(i, width=64, height=48), F(i, 30))
        assert w.temp.exists() and not target.exists()  # nothing at the target until done
    assert target.exists() and len(read_video(target)[0]) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]

    failed = tmp_path / "failed.mp4"
    with pytest.raises(RuntimeError), writer(failed) as w:
        w.write(pattern(0, width=64, height=48), F(0))
        raise RuntimeError("model crashed")
    assert not failed.exists() and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_writer_unwritable_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError):
        writer(tmp_path / "missing" / "out.mp4")


def test_writer_copies_audio_packets(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=6, audio=True)
    target = tmp_path / "out.mp4"
    with writer(target, copy_from=source) as w:
        for i in range(6):
            w.write(pattern(i, width=64, height=48), F(i, 30))
    assert w.copied_packets == len(audio_packets(source)) > 0
    assert audio_packets(target) == audio_packets(source)
    assert w.copied_bytes == sum(len(data) for _, data in audio_packets(source))


def test_writer_16bit_frames_to_10bit_stream(tmp_path: Path) -> None:
    target = tmp_path / "ten.mp4"
    with writer(target, source_pix_fmt="yuv420p10le", high_bit_depth=True) as w:
        w.write(pattern(0, width=64, height=48).astype(np.uint16) * 257, F(0))
    with VideoReader(target) as reader:
        assert reader.pix_fmt == "yuv420p10le"


def test_encoder_choice() -> None:
    assert resolve_encoder("h264") == "libx264"
    with pytest.raises(UsageError):
        resolve_encoder("no-such-codec")
    assert choose_pix_fmt("libx264", "yuvj420p", high_bit_depth=False, wanted=None) == "yuv420p"
    assert choose_pix_fmt("libx264", "rgb24", high_bit_depth=False, wanted=None) == "yuv420p"
    assert choose_pix_fmt("libx264", "yuv422p10le", high_bit_depth=True, wanted=None) == ("yuv422p10le")
    with pytest.raises(UsageError):
        choose_pix_fmt("libx264", "yuv420p", high_bit_depth=False, wanted="rgb24")
