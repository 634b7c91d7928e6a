"""Clip generators for the video tests: tiny clips made with PyAV, nothing downloaded.

PyAV is imported where a clip is made or read, so tests without video (tests/test_cuda.py on a GPU
machine with no PyAV) collect without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

if TYPE_CHECKING:
    import av

AUDIO_RATE = 48000


def pattern(index: int, *, width: int, height: int, shot: int = 0, step: int = 2) -> np.ndarray:
    """(H, W, 3) uint8: a smooth gradient with a bright square moving ``step`` px per frame.

    ``shot`` changes the palette completely (a scene cut).
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, 0.5 + 0.0 * x], axis=-1) * 160 + 20
    if shot % 2:
        base = 235 - base[..., ::-1] * 0.5
        base[..., 1] = 30
    size = max(6, height // 4)
    left = (index * step) % max(1, width - size)
    top = height // 3
    base[top : top + size, left : left + size] = (250, 240, 40) if shot % 2 == 0 else (10, 60, 250)
    return base.clip(0, 255).astype(np.uint8)


def make_clip(
    path: Path,
    *,
    frames: int = 12,
    width: int = 64,
    height: int = 48,
    rate: Fraction = Fraction(30),
    pts: Sequence[Fraction] | None = None,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    audio: bool = False,
    cut_at: int | None = None,
    duplicates: Sequence[int] = (),
    color: tuple[int, int, int, int] | None = None,
    rotation: int = 0,
    keyframe_interval: int | None = None,
) -> Path:
    """Write a test clip.

    Args:
        pts: explicit presentation times (s) for a variable-frame-rate clip (len = frames).
        cut_at: frames from this index on belong to a second shot.
        keyframe_interval: at most this many frames between keyframes (None: the encoder's default).
        duplicates: frame indices that repeat the previous frame's picture.
        color: (primaries, trc, space, range) tags.
    """
    import av

    times = list(pts) if pts is not None else [Fraction(i) / rate for i in range(frames)]
    time_base = Fraction(1, 1000) if pts is not None else 1 / rate
    out = av.open(str(path), mode="w")
    stream = out.add_stream(codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    if codec == "libx264":
        stream.options = {"crf": "12", "preset": "ultrafast"}
        if keyframe_interval:
            stream.options = {**stream.options, "g": str(keyframe_interval)}
    if color:
        ctx = stream.codec_context
        ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = color
    if rotation:
        stream.set_display_rotation(rotation)
    astream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono") if audio else None
    motion = 0
    for i, t in enumerate(times):
        if i not in duplicates:
            motion = i
        shot = 1 if cut_at is not None and i >= cut_at else 0
        image = pattern(motion, width=width, height=height, shot=shot)
        high = "10" in pix_fmt or "12" in pix_fmt
        fmt = "rgb48le" if high else "rgb24"
        arr = image.astype(np.uint16) * 257 if high else image
        frame = av.VideoFrame.from_ndarray(arr, format=fmt).reformat(format=pix_fmt)
        frame.pts = round(t / time_base)
        frame.time_base = time_base
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    if astream is not None:
        duration = times[-1] + (times[1] - times[0] if len(times) > 1 else 1 / rate)
        samples = int(duration * AUDIO_RATE)
        sine = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / AUDIO_RATE)).astype(np.float32)
        size = 1024
        for start in range(0, samples, size):
            chunk = sine[None, start : start + size]
            aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            aframe.sample_rate = AUDIO_RATE
            aframe.pts = start
            aframe.time_base = Fraction(1, AUDIO_RATE)
            for packet in astream.encode(aframe):
                out.mux(packet)
        for packet in astream.encode():
            out.mux(packet)
    out.close()
    return path


def make_audio_only(path: Path, seconds: float = 0.5) -> Path:
    import av

    out = av.open(str(path), mode="w")
    astream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
    samples = int(seconds * AUDIO_RATE)
    for start in range(0, samples, 1024):
        chunk = np.zeros((1, min(1024, samples - start)), np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        for packet in astream.encode(frame):
            out.mux(packet)
    for packet in astream.encode():
        out.mux(packet)
    out.close()
    return path


def read_video(path: Path) -> tuple[list[Fraction], list[np.ndarray], av.video.stream.VideoStream]:
    """All frames' pts (s) and RGB images, and the (closed) stream for its properties."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times, images = [], []
        for frame in container.decode(stream):
            times.append(Fraction(frame.pts) * Fraction(frame.time_base))
            images.append(frame.to_ndarray(format="rgb24"))
    return times, images, stream


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    """(pts, payload) of every audio packet."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [(p.pts, bytes(p)) for p in container.demux(container.streams.audio[0]) if p.size]


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with a random-init EBME-format flow file (fast, deterministic)."""
    from aprvfi_cli.model import APRVFI, ModelConfig

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    flow = APRVFI(ModelConfig.tiny()).flow
    torch.save({f"module.{k}": v for k, v in flow.state_dict().items()}, folder / "ebme-bi-flownet.pkl")
    return folder


@pytest.fixture()
def use_weights(weights_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("APRVFI_WEIGHTS_DIR", str(weights_dir))
    return weights_dir


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shared read-only clips (tests that write put their outputs elsewhere)."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "plain": make_clip(folder / "plain.mp4"),
        "audio": make_clip(folder / "audio.mp4", frames=15, audio=True),
    }


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture()
def cli(capfd: pytest.CaptureFixture[str], use_weights: Path):
    """Run ``aprvfi ARGS`` in-process through :func:`aprvfi_cli.cli.main` (the real edge)."""
    from aprvfi_cli.cli import main

    def run(*args: object) -> CliResult:
        capfd.readouterr()
        code = main([str(a) for a in args])
        out, err = capfd.readouterr()
        return CliResult(code, out, err)

    return run


def assert_one_error(result: CliResult, code: int, *words: str) -> None:
    """Exit ``code``, exactly one stderr line, starting 'aprvfi: error:', no traceback."""
    assert result.code == code, (result.code, result.err)
    assert len(result.err_lines) == 1, result.err
    line = result.err_lines[0]
    assert line.startswith("aprvfi: error: ") and "Traceback" not in result.err
    for word in words:
        assert word.lower() in line.lower(), line


def with_subtitles(clip: Path, target: Path, srt: str) -> Path:
    """Remux ``clip`` into a Matroska file with an SRT subtitle track (packet copy)."""
    import av

    srt_path = target.with_suffix(".srt")
    srt_path.write_text(srt)
    with av.open(str(clip)) as video, av.open(str(srt_path)) as subs, av.open(str(target), "w") as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in video.streams}
        sub_stream = out.add_stream_from_template(subs.streams[0])
        for packet in video.demux():
            if packet.size:
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
        for packet in subs.demux():
            if packet.size:
                packet.stream = sub_stream
                out.mux(packet)
    srt_path.unlink()
    return target


def subtitle_packets(path: Path) -> list[tuple[int, bytes]]:
    import av

    with av.open(str(path)) as container:
        return [(p.pts, bytes(p)) for p in container.demux(container.streams.subtitles[0]) if p.size]


@pytest.fixture()
def one_torch_thread():
    """One torch thread for the training tests: on a busy 2-core machine a second, spinning
    OpenMP thread slows every small op down."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray (2 CPUs, a small object store, loopback only) shared by the Ray tests."""
    from aprvfi_cli.cluster.connect import connect

    ray = connect("", num_cpus=2, object_store_bytes=100 * 2**20)
    yield ray
    ray.shutdown()
