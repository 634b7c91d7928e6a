"""`aprvfi pair`, `info`, `bench`, `--version` and the installed entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import assert_one_error, make_clip, pattern

from aprvfi_cli import __version__
from aprvfi_cli.video.images import read_image, write_image


def test_version(cli) -> None:
    result = cli("--version")
    assert result.code == 0 and result.out.strip() == f"aprvfi {__version__}"


def test_pair_single_and_many(cli, tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(a, pattern(0, width=64, height=48))
    write_image(b, pattern(4, width=64, height=48))
    result = cli("pair", a, b, "-o", tmp_path / "mid.png", "-t", "0.3")
    assert result.code == 0, result.err
    assert read_image(tmp_path / "mid.png").shape == (48, 64, 3)
    result = cli("pair", a, b, "-o", tmp_path / "seq.png", "-n", "3")
    assert result.code == 0
    assert sorted(p.name for p in tmp_path.glob("seq_*.png")) == [
        "seq_1.png",
        "seq_2.png",
        "seq_3.png",
    ]


def test_pair_errors(cli, tmp_path: Path) -> None:
    a = tmp_path / "a.png"
    write_image(a, pattern(0, width=64, height=48))
    small = tmp_path / "small.png"
    write_image(small, pattern(0, width=32, height=24))
    assert_one_error(cli("pair", a, tmp_path / "x.png", "-o", tmp_path / "o.png"), 2, "not found")
    assert_one_error(cli("pair", a, small, "-o", tmp_path / "o.png"), 1, "size")
    assert_one_error(cli("pair", a, a, "-o", tmp_path / "o.png", "-t", "1.5"), 2)
    assert_one_error(cli("pair", a, a, "-o", a, "--overwrite"), 2, "input")
    text = tmp_path / "t.png"
    text.write_text("nope")
    assert_one_error(cli("pair", a, text, "-o", tmp_path / "o.png"), 1, "t.png")
    assert not (tmp_path / "o.png").exists()


def test_info_reports_exact_facts(cli, tmp_path: Path) -> None:
    from fractions import Fraction

    source = make_clip(
        tmp_path / "ten.mp4",
        frames=9,
        rate=Fraction(30000, 1001),
        pix_fmt="yuv420p10le",
        audio=True,
        color=(1, 1, 1, 1),
        rotation=90,
    )
    result = cli("info", source)
    assert result.code == 0, result.err
    out = result.out
    assert "30000/1001" in out and "constant" in out
    assert "frames:      9" in out
    assert "yuv420p10le (10-bit)" in out
    assert "primaries=bt709" in out and "range=mpeg" in out
    assert "rotation:    90" in out
    assert "audio aac" in out
    assert "duration:    0.300300 s" in out  # 9 * 1001/30000 exactly


def test_info_variable_rate(cli, tmp_path: Path) -> None:
    from fractions import Fraction as F

    source = make_clip(tmp_path / "vfr.mp4", frames=4, pts=[F(0), F(1, 10), F(3, 10), F(4, 10)])
    result = cli("info", source)
    assert "variable" in result.out and "frames:      4" in result.out


def test_info_errors(cli, tmp_path: Path) -> None:
    assert_one_error(cli("info", tmp_path / "none.mp4"), 2)
    (tmp_path / "x.mp4").write_bytes(b"garbage" * 10)
    assert_one_error(cli("info", tmp_path / "x.mp4"), 1)


def test_every_command_is_registered(cli) -> None:
    result = cli("--help")
    assert result.code == 0
    for command in ("slowmo", "convert", "batch", "pair", "info", "bench", "eval", "train", "data"):
        assert f" {command} " in result.out, command


def test_entry_point_subprocess(tmp_path: Path, clips, weights_dir: Path) -> None:
    """The real process: exit codes and a single stderr line, no traceback."""
    env = {"APRVFI_WEIGHTS_DIR": str(weights_dir), "PATH": "/usr/bin:/bin"}
    code = "import sys; from aprvfi_cli.cli import main; sys.exit(main())"
    base = [sys.executable, "-c", code]
    bad = subprocess.run([*base, "convert", str(clips["plain"]), "--fps", "abc"],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    out = tmp_path / "o.mp4"
    good = subprocess.run([*base, "slowmo", str(clips["plain"]), "-o", str(out)],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert good.returncode == 0, good.stderr
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == 24


@pytest.mark.parametrize("dtype", [np.uint8])
def test_image_round_trip(tmp_path: Path, dtype) -> None:
    image = pattern(2, width=30, height=20).astype(dtype)
    write_image(tmp_path / "x.png", image)
    assert np.array_equal(read_image(tmp_path / "x.png"), image)


def test_progress_bar_only_on_a_terminal(monkeypatch, capsys) -> None:
    from aprvfi_cli.cli.console import progress_bar

    with progress_bar("clip", quiet=False) as update:
        assert update is None  # pytest's stderr is not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with progress_bar("clip", quiet=True) as update:
        assert update is None
    with progress_bar("clip", quiet=False) as update:
        assert callable(update)
        update(5, 10)
        update(10, 10)
    assert "10/10" in capsys.readouterr().err
