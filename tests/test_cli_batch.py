"""`aprvfi batch`: every clip, resumable, failures reported without stopping the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import assert_one_error, read_video


def folder_of_clips(tmp_path: Path, clips: dict[str, Path], *, broken: bool) -> Path:
    folder = tmp_path / "footage"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(clips["plain"], folder / "a.mp4")
    shutil.copy(clips["audio"], folder / "sub" / "b.mp4")
    (folder / "notes.txt").write_text("not a clip")
    if broken:
        (folder / "c.mp4").write_bytes(b"\x00" * 2000)
    return folder


def table_rows(out: str) -> dict[str, str]:
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃|").split("│")]
        if len(cells) == 5 and cells[0].endswith(".mp4"):
            rows[cells[0]] = cells[4]
    return rows


def test_batch_resumes_and_reports(cli, tmp_path: Path, clips) -> None:
    folder = folder_of_clips(tmp_path, clips, broken=True)
    first = cli("batch", folder, "--fps", "60", "--recursive")
    assert first.code == 1  # c.mp4 failed ...
    rows = table_rows(first.out)
    assert rows["a.mp4"] == "ok" and rows["sub/b.mp4"] == "ok"  # ... the others did not stop
    assert rows["c.mp4"].startswith("failed")
    out = folder / "aprvfi-output"
    assert len(read_video(out / "a.60fps.mp4")[0]) == 24
    assert len(read_video(out / "sub" / "b.60fps.mp4")[0]) == 30
    assert not (out / "c.60fps.mp4").exists()
    assert sorted(p.name for p in out.rglob("*") if p.name.startswith(".")) == []

    (folder / "c.mp4").unlink()
    again = cli("batch", folder, "--fps", "60", "--recursive")
    assert again.code == 0
    rows = table_rows(again.out)
    assert rows["a.mp4"].startswith("skipped") and rows["sub/b.mp4"].startswith("skipped")


def test_batch_slowmo_to_output_dir_not_recursive(cli, tmp_path: Path, clips) -> None:
    folder = folder_of_clips(tmp_path, clips, broken=False)
    target = tmp_path / "done"
    result = cli("batch", folder, "--slowmo", "2", "-o", target)
    assert result.code == 0, result.err
    assert sorted(p.name for p in target.iterdir()) == ["a.slowmo2x.mp4"]
    # 12 frames x 2: the last one lasts two output frames too
    assert len(read_video(target / "a.slowmo2x.mp4")[0]) == 24
    assert "frames in" in result.out and "a.mp4" in result.out


def test_batch_usage_errors(cli, tmp_path: Path) -> None:
    assert_one_error(cli("batch", tmp_path / "nope", "--fps", "60"), 2, "not found")
    assert_one_error(cli("batch", tmp_path, "--fps", "60", "--slowmo", "2"), 2)
    assert_one_error(cli("batch", tmp_path), 2)
    assert_one_error(cli("batch", tmp_path, "--fps", "0"), 2, "--fps")
    assert_one_error(cli("batch", tmp_path, "--fps", "60"), 2, "no video")


def test_batch_stops_on_model_failure(cli, tmp_path: Path, clips) -> None:
    folder = folder_of_clips(tmp_path, clips, broken=False)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not weights")
    result = cli("batch", folder, "--fps", "60", "--weights", bad)
    assert result.code == 1 and len(result.err_lines) == 1 and "bad.pt" in result.err
