"""One video split across Ray workers: exactly the local run's frames, times and audio."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import audio_packets, make_clip, read_video

from aprvfi_cli.engine.interpolator import load_model
from aprvfi_cli.engine.stream import JobOptions, Retime, process_video
from aprvfi_cli.video.writer import EncodeSettings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason='Ray is not installed (pip install "aprvfi[ray]")'
)

LOSSLESS = EncodeSettings(crf=0)  # x264 at CRF 0 is lossless: decoded frames are the rendered ones


def flow_weights(weights_dir: Path) -> Path:
    return weights_dir / "ebme-bi-flownet.pkl"


@pytest.fixture(scope="module")
def pool(ray_cluster, weights_dir: Path):
    """Two CPU workers with the tiny random flow, started once for this file (the last test,
    Ctrl-C, stops them)."""
    from aprvfi_cli.cluster.worker import ModelSpec, open_pool

    with open_pool(ModelSpec(flow_weights(weights_dir), "cpu", "fp32"), limit=2) as workers:
        yield workers


def local_run(source: Path, target: Path, weights: Path, options: JobOptions) -> Path:
    """The single-machine run, on one thread as each worker here: torch's CPU sums depend on the
    thread count (a rare pixel moves by one), so only equal thread counts give equal frames."""
    interpolator = load_model(weights, "cpu", "fp32", threads=1)
    process_video(source, target, interpolator=interpolator, options=options)
    return target


def hidden_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def assert_same_video(local: Path, split: Path) -> None:
    times_a, images_a, _ = read_video(local)
    times_b, images_b, _ = read_video(split)
    assert len(times_b) == len(times_a)
    assert times_b == times_a
    for index, (a, b) in enumerate(zip(images_a, images_b, strict=True)):
        assert (a == b).all(), f"output frame {index} differs"


@pytest.mark.parametrize(
    ("retime", "audio"),
    [(Retime(fps=Fraction(60)), True), (Retime(slowmo=Fraction(2)), False)],
    ids=["convert-60fps", "slowmo-2x"],
)
def test_split_video_equals_local_run(pool, one_torch_thread, weights_dir: Path, tmp_path: Path, retime, audio) -> None:
    from aprvfi_cli.cluster.convert import convert_on_cluster

    source = make_clip(tmp_path / "long.mp4", frames=48, audio=audio, cut_at=21, keyframe_interval=8)
    options = JobOptions(retime=retime, encode=LOSSLESS, copy_audio=audio)
    weights = flow_weights(weights_dir)
    local = local_run(source, tmp_path / "local.mp4", weights, options)
    out = tmp_path / "out"
    out.mkdir()
    result = convert_on_cluster(source, out / "split.mp4", pool=pool, options=options, segments=4)
    assert "4 segments on 2 Ray workers" in result.notes
    assert_same_video(local, out / "split.mp4")
    assert result.frames_out == len(read_video(local)[0])
    if audio:
        assert audio_packets(out / "split.mp4") == audio_packets(local)  # same packets: same duration
        assert result.copied_packets == len(audio_packets(local))
    assert hidden_files(out) == []


def test_worker_killed_during_a_segment_is_retried(pool, one_torch_thread, weights_dir: Path, tmp_path: Path) -> None:
    from aprvfi_cli.cluster.convert import convert_on_cluster

    source = make_clip(tmp_path / "long.mp4", frames=64, keyframe_interval=16)
    options = JobOptions(retime=Retime(fps=Fraction(60)), encode=LOSSLESS)
    weights = flow_weights(weights_dir)
    local = local_run(source, tmp_path / "local.mp4", weights, options)
    out = tmp_path / "out"
    out.mkdir()
    outcome: dict[str, object] = {}

    def job() -> None:
        try:
            outcome["result"] = convert_on_cluster(source, out / "split.mp4", pool=pool, options=options, segments=4)
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=job)
    thread.start()
    killed = None
    # a worker writing a segment has a temporary file named after its process id: kill that process
    pattern = re.compile(r"\.aprvfi-ray-\w+\.\d{4}\.aprvfi-(\d+)\.part\.mp4$")
    while thread.is_alive() and killed is None:
        for name in os.listdir(out):
            match = pattern.search(name)
            if match:
                killed = int(match.group(1))
                os.kill(killed, signal.SIGKILL)
                break
        time.sleep(0.001)
    thread.join(timeout=300)
    assert killed is not None, "no worker was caught writing a segment"
    assert "error" not in outcome, outcome.get("error")
    assert_same_video(local, out / "split.mp4")
    assert hidden_files(out) == []  # the killed worker's temporary file is gone too


def test_ctrl_c_on_the_driver_leaves_no_files(pool, tmp_path: Path) -> None:
    from aprvfi_cli.cluster.convert import convert_on_cluster

    source = make_clip(tmp_path / "long.mp4", frames=48, keyframe_interval=8)
    out = tmp_path / "out"
    out.mkdir()

    def interrupt(done: int, total: int | None) -> None:
        raise KeyboardInterrupt  # where a real Ctrl-C lands: the driver waiting on its workers

    with pytest.raises(KeyboardInterrupt):
        convert_on_cluster(source, out / "split.mp4", pool=pool, options=JobOptions(retime=Retime(fps=Fraction(60))),
                           segments=4, progress=interrupt)  # fmt: skip
    assert pool.closed  # the workers were stopped ...
    time.sleep(1)  # ... so nothing appears later either
    assert sorted(p.name for p in out.iterdir()) == []
