"""``--ray`` on the command line: batch and convert on a local Ray cluster, and without Ray."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import assert_one_error, make_clip, read_video
from test_cli_batch import folder_of_clips, table_rows

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason='Ray is not installed (pip install "aprvfi[ray]")'
)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


@needs_ray
def test_batch_on_ray_fails_one_clip_and_resumes(ray_cluster, cli, tmp_path: Path, clips) -> None:
    folder = folder_of_clips(tmp_path, clips, broken=True)
    first = cli("batch", folder, "--fps", "60", "--recursive", "--ray", "local")
    assert first.code == 1, first.err  # c.mp4 failed ...
    rows = table_rows(first.out)
    assert rows["a.mp4"] == "ok" and rows["sub/b.mp4"] == "ok"  # ... the others did not stop
    assert rows["c.mp4"].startswith("failed: ")
    out = folder / "aprvfi-output"
    assert len(read_video(out / "a.60fps.mp4")[0]) == 24
    assert len(read_video(out / "sub" / "b.60fps.mp4")[0]) == 30
    assert not (out / "c.60fps.mp4").exists()
    assert hidden(out) == []

    (folder / "c.mp4").unlink()
    again = cli("batch", folder, "--fps", "60", "--recursive", "--ray", "local")
    assert again.code == 0, again.err
    rows = table_rows(again.out)
    assert rows["a.mp4"].startswith("skipped") and rows["sub/b.mp4"].startswith("skipped")


@needs_ray
def test_convert_on_ray_equals_the_local_command(ray_cluster, cli, tmp_path: Path) -> None:
    source = make_clip(tmp_path / "long.mp4", frames=48, audio=True, keyframe_interval=8)
    lossless = ["--crf", "0", "--threads", "1"]  # one thread, as each worker: torch's sums depend on it
    local = cli("convert", source, "--fps", "60", "-o", tmp_path / "local.mp4", *lossless)
    assert local.code == 0, local.err
    split = cli("convert", source, "--fps", "60", "-o", tmp_path / "split.mp4", "--ray", "local", *lossless)
    assert split.code == 0, split.err
    assert "3 segments on 2 Ray workers" in split.err
    times_a, images_a, _ = read_video(tmp_path / "local.mp4")
    times_b, images_b, _ = read_video(tmp_path / "split.mp4")
    assert times_b == times_a
    assert all((a == b).all() for a, b in zip(images_a, images_b, strict=True))
    assert hidden(tmp_path) == []


@needs_ray
def test_slowmo_on_ray_bad_input_is_one_line(ray_cluster, cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 2000)
    result = cli("slowmo", broken, "--ray", "local")
    assert_one_error(result, 1, "broken.mp4")
    assert hidden(tmp_path) == []


def test_ray_without_the_extra_says_how_to_install(cli, tmp_path: Path, clips, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: `import ray` fails
    for args in (
        ["convert", clips["plain"], "--fps", "60"],
        ["slowmo", clips["plain"]],
        ["batch", clips["plain"].parent, "--fps", "60"],
    ):
        result = cli(*args, "-o" if args[0] != "batch" else "--output-dir", tmp_path / "o.mp4", "--ray", "local")
        assert_one_error(result, 2, 'pip install "aprvfi[ray]"')
        assert result.err_lines == [
            'aprvfi: error: --ray: Ray is not installed; install the extra: pip install "aprvfi[ray]"'
        ]
    assert list(tmp_path.iterdir()) == []
