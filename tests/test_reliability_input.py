"""Issue 10, the input side: exit 0 means a complete file, the right frame rate, honest `info`.

Every clip is made here with PyAV (64x48, 60 frames at most); the interpolator is flow-only with
random tiny weights (fast; the pictures do not matter, the frame counts and times do).
"""

from __future__ import annotations

import shutil
from fractions import Fraction as F
from pathlib import Path

import av
import pytest
import torch
from conftest import make_clip, read_video

from aprvfi_cli.engine.interpolator import Interpolator
from aprvfi_cli.engine.stream import JobOptions, JobResult, Retime, process_video
from aprvfi_cli.errors import InputError
from aprvfi_cli.model import APRVFI, ModelConfig
from aprvfi_cli.video.probe import probe
from aprvfi_cli.video.reader import VideoReader

RATE = F(20)
FRAMES = 60  # 3 s


@pytest.fixture(scope="module")
def flow_only():
    """One torch thread: on a busy 2-core machine a second, spinning OpenMP thread is 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield Interpolator(APRVFI(ModelConfig.tiny()), method="flow-only", max_patches=None)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """3 s clips in the containers that count no frames (audio where the container takes AAC)."""
    folder = tmp_path_factory.mktemp("containers")
    made = {}
    for ext, codec, audio in (("mkv", "libx264", True), ("webm", "libvpx-vp9", False),
                              ("ts", "libx264", True), ("avi", "libx264", False)):  # fmt: skip
        made[ext] = make_clip(folder / f"clip.{ext}", frames=FRAMES, rate=RATE, codec=codec, audio=audio)
    return made


def truncated(source: Path, folder: Path, keep: float = 0.5) -> Path:
    """The first ``keep`` of the file's bytes (``head -c``)."""
    data = source.read_bytes()
    target = folder / f"cut-{source.name}"
    target.write_bytes(data[: int(len(data) * keep)])
    return target


def convert(source: Path, target: Path, interpolator: Interpolator, fps: F = F(40), progress=None) -> JobResult:
    options = JobOptions(retime=Retime(fps=fps))
    return process_video(source, target, interpolator=interpolator, options=options, progress=progress)


@pytest.mark.parametrize("ext", ["mkv", "webm", "avi"])
def test_truncated_file_without_frame_count_fails(ext, sources, flow_only, tmp_path) -> None:
    """Defect 1: a cut MKV gave a 1.57 s output from 3.02 s, exit 0. The declared duration catches it."""
    cut = truncated(sources[ext], tmp_path)
    before = cut.read_bytes()
    with pytest.raises(InputError, match="truncated"):
        convert(cut, tmp_path / "out.mp4", flow_only)
    assert sorted(p.name for p in tmp_path.iterdir()) == [cut.name]  # no output, no temporary file
    assert cut.read_bytes() == before


@pytest.mark.parametrize("ext", ["mkv", "webm", "ts", "avi"])
def test_complete_file_without_frame_count_converts_whole(ext, sources, flow_only, tmp_path) -> None:
    """No false alarm: complete files give every output frame (3 s at 40 fps), audio included."""
    totals: list[int | None] = []
    result = convert(sources[ext], tmp_path / "out.mkv", flow_only, progress=lambda done, total: totals.append(total))
    times, _, _ = read_video(tmp_path / "out.mkv")
    assert result.frames_in == FRAMES and len(times) == result.frames_out == 120
    # Defect 8: no frame count, yet the progress bar gets a total (duration x rate), not "86/?"
    assert totals and all(total == 120 for total in totals)


def test_raw_h264_keeps_its_frame_rate(flow_only, tmp_path) -> None:
    """Defect 5: a raw 24 fps .h264 was read as 25 fps (its demuxer's default): 4% short."""
    source = make_clip(tmp_path / "clip.h264", frames=24, rate=F(24))
    with VideoReader(source) as reader:
        pts = [frame.pts for frame in reader.frames()]
        assert reader.rate == 24
    assert pts == [F(i, 24) for i in range(24)]
    convert(source, tmp_path / "out.mp4", flow_only, fps=F(48))
    assert len(read_video(tmp_path / "out.mp4")[0]) == 48  # 1.000 s, not 0.96


def test_info_reads_raw_and_truncated_files(sources, tmp_path) -> None:
    """Defect 7: `info` failed on raw .h264 and on a truncated .mkv (unguarded seek)."""
    raw = probe(make_clip(tmp_path / "clip.h264", frames=24, rate=F(24)))
    assert raw.rate == 24 and raw.frame_count == 24 and raw.duration == 1
    cut = probe(truncated(sources["mkv"], tmp_path))
    assert 0 < cut.frame_count < FRAMES and cut.rate == RATE


def test_info_calls_mixed_24_30_variable() -> None:
    """`info` called 24 then 30 fps in 1/120 ticks (steps 5 and 4, one tick apart) constant."""
    from aprvfi_cli.video.probe import is_variable

    mixed = [5 * i for i in range(12)] + [55 + 4 * i for i in range(1, 16)]
    assert is_variable(mixed)
    assert not is_variable([round(i * 1001 / 30) for i in range(100)])  # 29.97 in 1/1000: 33, 34...
    assert not is_variable([4 * i for i in range(30)])


def test_info_reports_variable_rate_file(tmp_path) -> None:
    source = tmp_path / "vfr.mkv"
    make_clip(source, frames=27, pts=[F(i, 24) for i in range(12)] + [F(11, 24) + F(i, 30) for i in range(1, 16)])
    facts = probe(source)
    assert facts.variable and "variable" in facts.lines()[3]


def test_interlaced_source_gets_a_note(flow_only, tmp_path) -> None:
    source = tmp_path / "interlaced.mp4"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"flags": "+ildct", "x264-params": "interlaced=1", "preset": "ultrafast"}
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(make_pattern(i), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    result = convert(source, tmp_path / "out.mp4", flow_only, fps=F(50))
    assert any("interlaced" in note for note in result.notes)


def make_pattern(i: int):
    from conftest import pattern

    return pattern(i, width=64, height=48)


def test_copies_of_sources_are_untouched(sources, tmp_path) -> None:
    """Reading never writes: the bytes of every source are the same after a probe and a decode."""
    for source in sources.values():
        copy = tmp_path / source.name
        shutil.copy(source, copy)
        probe(copy)
        with VideoReader(copy) as reader:
            assert sum(1 for _ in reader.frames()) == FRAMES
        assert copy.read_bytes() == source.read_bytes()
