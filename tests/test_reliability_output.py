"""Issue 10, the output side: bad audio timestamps, colour tags, output names, odd sizes, timing.

Clips are made here with PyAV (64x48); the interpolator is flow-only with random tiny weights.
"""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import audio_packets, make_clip, pattern, read_video

from aprvfi_cli.engine.interpolator import Interpolator
from aprvfi_cli.engine.stream import JobOptions, JobResult, Retime, process_video
from aprvfi_cli.errors import UsageError
from aprvfi_cli.model import APRVFI, ModelConfig
from aprvfi_cli.video.writer import EncodeSettings, VideoWriter


@pytest.fixture(scope="module")
def flow_only():
    """One torch thread: on a busy 2-core machine a second, spinning OpenMP thread is 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield Interpolator(APRVFI(ModelConfig.tiny()), method="flow-only", max_patches=None)
    torch.set_num_threads(threads)


def run(source: Path, target: Path, interpolator: Interpolator, **retime) -> JobResult:
    options = JobOptions(retime=Retime(**retime))
    return process_video(source, target, interpolator=interpolator, options=options)


def colour_of(path: Path) -> tuple[str, int, int]:
    """(pixel format, matrix, range) of the first frame, as a player reads the tags."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.format.name, frame.colorspace, frame.color_range


def test_joined_ts_files_keep_all_audio(flow_only, tmp_path) -> None:
    """Defect 2: `cat a.ts a.ts > c.ts` failed with "cannot write o.mp4: Invalid argument".

    As ffmpeg does, the second part continues after the first: video and audio, with a note.
    """
    part = make_clip(tmp_path / "a.ts", frames=30, rate=F(20), audio=True)
    joined = tmp_path / "c.ts"
    joined.write_bytes(part.read_bytes() * 2)
    result = run(joined, tmp_path / "out.mp4", flow_only, fps=F(40))
    assert result.frames_in == 60 and result.frames_out == 120  # 3 s, both parts
    assert any("joined" in note for note in result.notes), result.notes
    copied = audio_packets(tmp_path / "out.mp4")
    assert len(copied) == 2 * len(audio_packets(part))
    stamps = [pts for pts, _ in copied]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt"),
    [("png.mov", "png", "rgba"), ("ffv1.mkv", "ffv1", "bgr0"), ("rgb.mkv", "libx264rgb", "bgr0")],
)
def test_rgb_source_is_tagged_as_encoded(flow_only, tmp_path, name, codec, pix_fmt) -> None:
    """Defect 4: RGB sources became yuv420p still tagged colorspace=gbr (wrong colours)."""
    source = make_clip(tmp_path / name, frames=6, codec=codec, pix_fmt=pix_fmt)
    result = run(source, tmp_path / "out.mp4", flow_only, fps=F(60))
    fmt, matrix, rng = colour_of(tmp_path / "out.mp4")
    assert (fmt, matrix, rng) == ("yuv420p", 6, 1)  # BT.601 (SD), limited range: what swscale wrote
    # decoded by the tags, the colours are the source's
    with av.open(str(tmp_path / "out.mp4")) as container:
        frame = next(container.decode(video=0))
        made = frame.reformat(format="rgb24", src_colorspace=matrix, src_color_range=rng).to_ndarray()
    assert np.abs(made.astype(int) - pattern(0, width=64, height=48)).mean() < 3
    alpha_notes = [note for note in result.notes if "alpha" in note]
    assert len(alpha_notes) == (1 if pix_fmt == "rgba" else 0)


def test_yuv_to_rgb_output_is_tagged_rgb(tmp_path) -> None:
    """The reverse: a BT.709 source written as RGB (libx264rgb) is tagged gbr, full range."""
    target = tmp_path / "out.mkv"
    settings = EncodeSettings(codec="libx264rgb", pix_fmt="bgr0")
    with VideoWriter(target, width=64, height=48, rate=F(30), time_base=F(1, 30), settings=settings,
                     color=av_color(1, 1, 1, 1)) as writer:  # fmt: skip
        for i in range(3):
            writer.write(pattern(i, width=64, height=48), F(i, 30))
    assert colour_of(target)[1:] == (0, 2)


def av_color(*tags: int):
    from aprvfi_cli.video.reader import ColorInfo

    return ColorInfo(*tags)


@pytest.mark.parametrize("name", ["out", "out.xyz"])
def test_unknown_output_extension_is_a_usage_error(tmp_path, name) -> None:
    """Defect 6: `-o out` gave "unexpected ValueError: Could not determine output format" and a .part file."""
    with pytest.raises(UsageError, match=r"\.mp4.*\.mkv"):
        VideoWriter(tmp_path / name, width=64, height=48, rate=F(30), time_base=F(1, 30), settings=EncodeSettings())
    assert list(tmp_path.iterdir()) == []


def test_odd_size_is_encoded_in_444_and_says_so(tmp_path) -> None:
    """Defect 10: odd-sized 4:2:0 gave "Generic error in an external library"; an odd-sized source
    is now encoded in 4:4:4 (as ffmpeg chooses), with a note, and only a 4:2:0 asked for is refused."""
    settings = EncodeSettings(pix_fmt="yuv420p")
    with pytest.raises(UsageError, match=r"even.*65x49.*yuv444p"):
        VideoWriter(tmp_path / "o.mp4", width=65, height=49, rate=F(30), time_base=F(1, 30), settings=settings)
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(tmp_path / "o.mp4", width=65, height=49, rate=F(30), time_base=F(1, 30),
                     settings=EncodeSettings()) as writer:  # fmt: skip
        writer.write(np.zeros((49, 65, 3), np.uint8), F(0))
    assert writer.pix_fmt == "yuv444p" and any("65x49" in note and "yuv444p" in note for note in writer.notes)
    assert len(read_video(tmp_path / "o.mp4")[0]) == 1
    if "libsvtav1" in av.codecs_available:  # an encoder with no 4:4:4: the error names the codec, not --pix-fmt
        with pytest.raises(UsageError, match=r"65x49.*libsvtav1.*4:4:4") as refused:
            VideoWriter(tmp_path / "a.mkv", width=65, height=49, rate=F(30), time_base=F(1, 30),
                        settings=EncodeSettings(codec="libsvtav1"))  # fmt: skip
        assert refused.value.subject == "codec"


def test_integer_slowmo_output_lasts_k_times(flow_only, tmp_path) -> None:
    """Integer slow motion was (k-1)/fps short: x2 of 1 s lasted 1.967 s; x2.5 was exact."""
    source = make_clip(tmp_path / "in.mp4", frames=30, rate=F(30))
    for factor in (F(2), F(5, 2)):
        out = tmp_path / f"x{float(factor)}.mp4"
        run(source, out, flow_only, slowmo=factor)
        times, _, _ = read_video(out)
        assert times[-1] + F(1, 30) == factor  # last frame's end: exactly k x 1 s


def test_cut_lands_on_time(flow_only, tmp_path) -> None:
    """A cut at source frame 6 (0.2 s) showed one output frame early: the t = 0.5 tie took the new shot."""
    source = make_clip(tmp_path / "cut.mp4", frames=12, rate=F(30), cut_at=6)
    run(source, tmp_path / "out.mp4", flow_only, fps=F(60))
    _, images, _ = read_video(tmp_path / "out.mp4")
    old, new = pattern(5, width=64, height=48), pattern(6, width=64, height=48, shot=1)

    def shot(image: np.ndarray) -> int:
        return int(np.abs(image.astype(int) - new).mean() < np.abs(image.astype(int) - old).mean())

    assert [shot(images[n]) for n in (10, 11, 12)] == [0, 0, 1]  # output 12 at 0.2 s is the first of the new shot


def test_slowmo_factor_bound_is_a_usage_error() -> None:
    """Defect 9: `slowmo --factor 1e9` ran until killed."""
    Retime(slowmo=F(1000))
    with pytest.raises(UsageError, match="at most 1000"):
        Retime(slowmo=F(10**9))


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8"), (".bmp", b"BM")])
def test_image_data_matches_its_name(tmp_path, suffix, magic) -> None:
    """`pair -o x.jpg` wrote PNG data."""
    from aprvfi_cli.video.images import read_image, write_image

    image = pattern(0, width=64, height=48)
    write_image(tmp_path / f"x{suffix}", image)
    assert (tmp_path / f"x{suffix}").read_bytes().startswith(magic)
    assert np.abs(read_image(tmp_path / f"x{suffix}").astype(int) - image).mean() < 3
    with pytest.raises(UsageError, match=r"\.png"):
        write_image(tmp_path / "x.xyz", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"x{suffix}"]


OOM_SCRIPT = """
import resource, sys
from fractions import Fraction as F
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from conftest import make_clip
import torch
from aprvfi_cli.engine.interpolator import Interpolator
from aprvfi_cli.engine.stream import JobOptions, Retime, process_video
from aprvfi_cli.errors import AprvfiError
from aprvfi_cli.model import APRVFI, ModelConfig

torch.set_num_threads(1)
source = make_clip(Path(sys.argv[1]), frames=3, width=1920, height=1088)
interpolator = Interpolator(APRVFI(ModelConfig.tiny()), method="flow-only", max_patches=None)
size = int(next(line for line in open("/proc/self/status") if line.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + 400 * 2**20, resource.RLIM_INFINITY))  # decoding fits, the model not
try:
    process_video(source, Path(sys.argv[2]), interpolator=interpolator, options=JobOptions(retime=Retime(fps=F(60))))
except AprvfiError as error:
    print(type(error).__name__, error)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc and RLIMIT_AS")
def test_out_of_memory_names_the_frame_size(tmp_path) -> None:
    """Defect 10: running out of memory gave "unexpected RuntimeError: [enforce fail ...]"."""
    import subprocess
    import sys

    tests = Path(__file__).parent
    args = [sys.executable, "-c", OOM_SCRIPT, str(tmp_path / "big.mp4"), str(tmp_path / "out.mp4"), str(tests)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.stdout.startswith("ModelError out of memory interpolating 1920x1088 frames"), done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.mp4"]


def test_sparse_subtitles_are_all_kept(flow_only, tmp_path) -> None:
    """The timestamp repair must not take a long pause between subtitles for a broken time."""
    from conftest import subtitle_packets, with_subtitles

    clip = make_clip(tmp_path / "clip.mp4", frames=12, rate=F(30))
    srt = (
        "1\n00:00:00,000 --> 00:00:00,200\nHello\n\n"
        "2\n00:00:00,250 --> 00:00:00,350\nthere\n\n"
        "3\n00:00:15,000 --> 00:00:16,000\nmuch later\n"
    )
    source = with_subtitles(clip, tmp_path / "subs.mkv", srt)
    result = run(source, tmp_path / "out.mkv", flow_only, fps=F(60))
    assert [data for _, data in subtitle_packets(tmp_path / "out.mkv")] == [
        data for _, data in subtitle_packets(source)
    ]
    assert not [note for note in result.notes if "dropped" in note]


def test_one_bad_audio_timestamp_is_dropped_not_fatal(flow_only, tmp_path) -> None:
    """Defect 2 outside MPEG-TS: one MKV audio block moved 150 ms back (as a flipped byte does)
    failed the job with "cannot write out.mp4: Invalid argument"; now that packet is dropped, with a note."""
    import struct

    source = make_clip(tmp_path / "clip.mkv", frames=30, rate=F(30), audio=True)
    data = bytearray(source.read_bytes())
    with av.open(str(source)) as container:
        blocks = [packet.pos for packet in container.demux(container.streams.audio[0]) if packet.size]
    at = blocks[10]  # a SimpleBlock's payload: track number (0x82), then its int16 time in ms
    assert data[at] == 0x82
    (relative,) = struct.unpack(">h", bytes(data[at + 1 : at + 3]))
    data[at + 1 : at + 3] = struct.pack(">h", relative - 150)
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(bytes(data))
    result = run(broken, tmp_path / "out.mp4", flow_only, fps=F(60))
    assert result.frames_out == 60
    assert result.notes == ["audio stream #1: 1 packets dropped (broken timestamps)"]
    assert len(audio_packets(tmp_path / "out.mp4")) == len(blocks) - 1


def test_allocation_failures_are_recognised_in_each_form() -> None:
    from aprvfi_cli.engine.stream import is_out_of_memory

    for error in (
        MemoryError(),
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] err == 0. DefaultCPUAllocator: can't allocate memory"),
        RuntimeError("could not create a primitive"),  # oneDNN under an address-space limit
        RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    ):
        assert is_out_of_memory(error), error
    assert not is_out_of_memory(RuntimeError("expected a (B, 4, H, W) flow"))
