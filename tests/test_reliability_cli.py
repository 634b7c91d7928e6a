"""Issue 10 through the command line: one plain line, the right exit code, nothing left behind."""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

import av
import pytest
from conftest import assert_one_error, make_clip, pattern


def leftovers(folder: Path, *keep: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p not in keep)


@pytest.mark.parametrize("name", ["out", "out.xyz"])
def test_unknown_output_extension(cli, clips, tmp_path, name) -> None:
    """Defect 6: "unexpected ValueError: Could not determine output format" and a .part file."""
    result = cli("convert", clips["plain"], "--fps", "60", "-o", tmp_path / name)
    assert_one_error(result, 2, "output format", ".mp4", ".mkv")
    assert leftovers(tmp_path) == []


def test_slowmo_factor_upper_bound(cli, clips, tmp_path) -> None:
    """Defect 9: `slowmo --factor 1e9` ran until killed."""
    assert_one_error(cli("slowmo", clips["plain"], "--factor", "1e9", "-o", tmp_path / "o.mp4"), 2, "--factor", "1000")
    assert leftovers(tmp_path) == []


def test_truncated_mkv_fails_in_one_line(cli, tmp_path) -> None:
    """Defect 1 end to end: exit 1, one line, no output, input untouched."""
    source = make_clip(tmp_path / "clip.mkv", frames=60, rate=F(20), audio=True)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    before = cut.read_bytes()
    result = cli("convert", cut, "--fps", "40", "-o", tmp_path / "o.mkv", "--threads", "1")
    assert_one_error(result, 1, "truncated", "3.000 s")
    assert leftovers(tmp_path) == ["clip.mkv", "cut.mkv"] and cut.read_bytes() == before


def test_info_on_raw_h264(cli, tmp_path) -> None:
    """Defect 7: `aprvfi info` gave "unexpected PermissionError" on raw .h264."""
    source = make_clip(tmp_path / "clip.h264", frames=24, rate=F(24))
    result = cli("info", source)
    assert result.code == 0, result.err
    assert "24/1 (24 fps)" in result.out and "frames:      24" in result.out


def test_odd_size_names_the_way_out(cli, tmp_path) -> None:
    """Defect 10: odd-sized 4:2:0 gave "Generic error in an external library"."""
    source = make_clip(tmp_path / "odd.mkv", frames=4, width=65, height=49, pix_fmt="yuv444p")
    result = cli("convert", source, "--fps", "60", "--pix-fmt", "yuv420p", "-o", tmp_path / "o.mkv")
    assert_one_error(result, 2, "--pix-fmt", "65x49", "yuv444p")
    assert leftovers(tmp_path) == ["odd.mkv"]


def test_odd_sized_rgb_source_with_default_options_works(cli, tmp_path) -> None:
    """Issue 20: a 321x241 RGB (ffv1 bgr0) source exited 2 about --pix-fmt, an option never given."""
    source = make_clip(tmp_path / "rgb.mkv", frames=3, width=321, height=241, pix_fmt="bgr0", codec="ffv1")
    result = cli("convert", source, "--fps", "60")
    assert result.code == 0, result.err
    notes = [line for line in result.err_lines if "321x241" in line]
    assert len(notes) == 1 and notes[0].startswith("aprvfi: note:") and "yuv444p" in notes[0], result.err
    with av.open(str(tmp_path / "rgb.60fps.mkv")) as container:  # the MKV's own container and name
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.codec_context.pix_fmt) == (321, 241, "yuv444p")


def test_pair_writes_the_format_its_name_says(cli, tmp_path) -> None:
    """`pair -o x.jpg` wrote PNG data; an unknown image extension is refused before any work."""
    from aprvfi_cli.video.images import write_image

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(a, pattern(0, width=64, height=48))
    write_image(b, pattern(2, width=64, height=48))
    result = cli("pair", a, b, "-o", tmp_path / "mid.jpg", "--threads", "1")
    assert result.code == 0, result.err
    assert (tmp_path / "mid.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert_one_error(cli("pair", a, b, "-o", tmp_path / "mid.xyz"), 2, "image format", ".png")
    assert leftovers(tmp_path) == ["a.png", "b.png", "mid.jpg"]
