"""Every bad-input path: one stderr line, exit 2 (usage) or 1 (failure), nothing left behind."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import pytest
from conftest import assert_one_error, make_audio_only, make_clip


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or "part" in p.name)


@pytest.fixture()
def clip(tmp_path: Path, clips: dict[str, Path]) -> Path:
    target = tmp_path / "clip.mp4"
    shutil.copy(clips["plain"], target)
    return target


def test_missing_file(cli, tmp_path: Path) -> None:
    result = cli("convert", tmp_path / "nope.mp4", "--fps", "60")
    assert_one_error(result, 2, "not found")


def test_directory_instead_of_file(cli, tmp_path: Path) -> None:
    assert_one_error(cli("slowmo", tmp_path), 2, "directory")


def test_not_a_video(cli, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    before = digest(fake)
    result = cli("convert", fake, "--fps", "60")
    assert_one_error(result, 1, "notes.mp4")
    assert digest(fake) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4"]


def test_audio_only(cli, tmp_path: Path) -> None:
    audio = make_audio_only(tmp_path / "sound.m4a")
    assert_one_error(cli("slowmo", audio), 1, "no video stream")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sound.m4a"]


@pytest.mark.parametrize("frames", [0, 1])
def test_zero_or_one_frame(cli, tmp_path: Path, frames: int) -> None:
    if frames == 0:
        source = tmp_path / "empty.mp4"
        import av

        with av.open(str(source), "w") as out:
            stream = out.add_stream("libx264", rate=30)
            stream.width, stream.height = 64, 48
            out.start_encoding()  # header only: a valid file with no frames
    else:
        source = make_clip(tmp_path / "one.mp4", frames=1)
    result = cli("convert", source, "--fps", "60")
    assert_one_error(result, 1)
    assert "frame" in result.err_lines[0] or "video" in result.err_lines[0]
    assert leftovers(tmp_path) == [] and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("keep", [0.5, 0.85])
def test_truncated_file(cli, tmp_path: Path, clips: dict[str, Path], keep: float) -> None:
    data = clips["audio"].read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: int(len(data) * keep)])
    result = cli("convert", broken, "--fps", "60", "-o", tmp_path / "out.mp4")
    assert_one_error(result, 1, "broken.mp4")
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def test_corrupt_middle(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    data = bytearray(clips["plain"].read_bytes())
    data[: len(data) // 2] = os.urandom(len(data) // 2)  # header and first packets destroyed
    broken = tmp_path / "garbled.mp4"
    broken.write_bytes(bytes(data))
    assert_one_error(cli("slowmo", broken, "-o", tmp_path / "o.mp4"), 1)
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []


def test_output_equal_to_input(cli, clip: Path) -> None:
    before = digest(clip)
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", clip, "--overwrite"), 2, "input")
    assert digest(clip) == before


def test_output_exists_without_overwrite(cli, clip: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.mp4"
    target.write_bytes(b"precious")
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", target), 2, "--overwrite")
    assert target.read_bytes() == b"precious"
    assert cli("convert", clip, "--fps", "60", "-o", target, "--overwrite", "-q").code == 0
    assert target.read_bytes() != b"precious"


def test_unwritable_output_folder(cli, clip: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", blocker / "o.mp4"), 1, "folder")
    missing = tmp_path / "no" / "such" / "o.mp4"
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", missing), 1, "folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(cli, clip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert_one_error(cli("convert", clip, "--fps", "60", "-o", folder / "o.mp4"), 1)
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1/0"])
def test_bad_fps(cli, clip: Path, value: str) -> None:
    assert_one_error(cli("convert", clip, "--fps", value), 2, "--fps")
    assert leftovers(clip.parent) == []


@pytest.mark.parametrize("value", ["1", "0.5", "-2", "x"])
def test_bad_factor(cli, clip: Path, value: str) -> None:
    assert_one_error(cli("slowmo", clip, "--factor", value), 2, "--factor")


@pytest.mark.parametrize(("command", "flag"), [("convert", "--multi"), ("batch", "--slowmo")])
def test_bad_factor_names_its_flag(cli, clip: Path, command: str, flag: str) -> None:
    source = clip if command == "convert" else clip.parent
    assert_one_error(cli(command, source, flag, "1"), 2, f"{flag} must be greater than 1")


def test_fps_and_multi_together(cli, clip: Path) -> None:
    assert_one_error(cli("convert", clip, "--fps", "60", "--multi", "2"), 2)


def test_missing_weights(cli, clip: Path, tmp_path: Path) -> None:
    result = cli("slowmo", clip, "-o", tmp_path / "o.mp4", "--weights", tmp_path / "nope.pt")
    assert_one_error(result, 2, "weights")


def test_corrupt_weights(cli, clip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(os.urandom(1000))
    result = cli("slowmo", clip, "-o", tmp_path / "o.mp4", "--weights", bad)
    assert_one_error(result, 1, "bad.pt")
    assert not (tmp_path / "o.mp4").exists()


def test_no_weights_anywhere(cli, clip: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("APRVFI_WEIGHTS_DIR", str(tmp_path / "empty"))
    assert_one_error(cli("slowmo", clip, "-o", tmp_path / "o.mp4"), 1, "weights")


def test_cuda_without_gpu(cli, clip: Path, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = cli("convert", clip, "--fps", "60", "--device", "cuda", "-o", tmp_path / "o.mp4")
    assert_one_error(result, 2, "cuda")


def test_bad_device_precision_route_codec(cli, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", out, "--device", "tpu"), 2, "device")
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", out, "--precision", "x"), 2)
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", out, "--route", "a,b"), 2, "route")
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", out, "--codec", "nope"), 2, "nope")
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", out, "--bogus"), 2, "bogus")
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", out, "--preset", "x"), 2, "preset")
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", out, "--crf", "99"), 2, "crf")


def test_disk_full_mid_write(cli, clip: Path, tmp_path: Path, monkeypatch) -> None:
    from aprvfi_cli.video.writer import VideoWriter

    calls = {"n": 0}
    real = VideoWriter._mux

    def full(self, packet) -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(self, packet)

    monkeypatch.setattr(VideoWriter, "_mux", full)
    before = digest(clip)
    out = tmp_path / "out.mp4"
    assert_one_error(cli("slowmo", clip, "-o", out, "--factor", "4"), 1, "no space left")
    assert calls["n"] > 3
    assert not out.exists() and leftovers(tmp_path) == []
    assert digest(clip) == before


def test_unexpected_exception_is_one_line(cli, clip: Path, tmp_path: Path, monkeypatch) -> None:
    import aprvfi_cli.engine.stream as stream

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(stream, "process_video", boom)
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", tmp_path / "o.mp4"), 1, "kaboom")


def test_truncated_faststart_file(cli, tmp_path: Path) -> None:
    """Index at the front, data cut short: caught by counting frames, output removed."""
    import av

    plain = make_clip(tmp_path / "src.mp4", frames=20)
    whole = tmp_path / "fast.mp4"
    with av.open(str(plain)) as src, av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux():
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    result = cli("convert", cut, "--fps", "60", "-o", tmp_path / "o.mp4")
    assert_one_error(result, 1, "truncated")
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []


def test_container_that_cannot_hold_the_codec(cli, clip: Path, tmp_path: Path) -> None:
    """Fails after decoding started: the decode thread must stop before the input closes."""
    out = tmp_path / "out.webm"
    assert_one_error(cli("convert", clip, "--fps", "60", "-o", out), 2, ".webm")
    assert not out.exists() and leftovers(tmp_path) == []


def test_negative_harm_weight(cli, tmp_path: Path) -> None:
    result = cli("train", "--run-dir", tmp_path / "run", "--harm-weight", "-0.5")
    assert_one_error(result, 2, "--harm-weight must be at least 0")
    assert not (tmp_path / "run").exists()
