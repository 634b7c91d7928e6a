"""Evaluation sets and ``aprvfi eval`` on small generated data (random-weight flow, fast)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from conftest import make_clip, pattern
from typer.testing import CliRunner

from aprvfi_cli.cli.eval_command import evaluate
from aprvfi_cli.eval.metrics import psnr
from aprvfi_cli.eval.sets import open_eval_set
from aprvfi_cli.video.images import write_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def vimeo(root: Path, sequences: int = 2) -> Path:
    for s in range(sequences):
        folder = root / "sequences" / f"{s:05d}" / "0001"
        folder.mkdir(parents=True)
        for i in range(3):
            write_image(folder / f"im{i + 1}.png", pattern(3 * s + i, width=64, height=48, step=4))
    return root


def test_vimeo_layout(tmp_path: Path) -> None:
    found = open_eval_set(vimeo(tmp_path))
    assert found.layout == "vimeo90k" and found.count == 2
    first = next(found.triplets)
    assert first.name == "sequences/00000/0001"
    assert np.array_equal(first.truth, pattern(1, width=64, height=48, step=4))


def test_frame_folder_gives_every_leave_one_out_triplet(tmp_path: Path) -> None:
    for i in range(5):
        write_image(tmp_path / f"frame_{i:04d}.png", pattern(i, width=32, height=24))
    found = open_eval_set(tmp_path)
    assert found.layout == "frames" and [t.name for t in found.triplets] == [
        "frame_0001.png",
        "frame_0002.png",
        "frame_0003.png",
    ]


def test_video_triplets_skip_cuts_and_duplicates(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=15, cut_at=9, duplicates=(5,))
    found = open_eval_set(clip)
    assert found.layout == "video"
    names = [t.name for t in found.triplets]
    # f[2k], f[2k+2] -> f[2k+1]; (4,5,6) holds the duplicate, (8,9,10) crosses the cut
    assert names == ["c.mp4#1", "c.mp4#3", "c.mp4#7", "c.mp4#11", "c.mp4#13"]
    assert found.count == 5 and found.skipped == 2


def test_eval_command_scores_baselines_and_model(tmp_path: Path, use_weights: Path) -> None:
    root = vimeo(tmp_path / "data", sequences=2)
    app = typer.Typer()
    app.command()(evaluate)
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(app, [str(root), "--json", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "average" in result.output and "PSNR" in result.output
    report = json.loads(out.read_text())
    assert report["triplets"] == 2 and report["layout"] == "vimeo90k"
    frames = [[pattern(3 * s + i, width=64, height=48, step=4) for i in range(3)] for s in range(2)]
    repeat = np.mean([psnr(f[0], f[1]) for f in frames])
    assert report["methods"]["repeat"]["psnr"] == pytest.approx(repeat)
    # with no trained weights, static and apr are exactly the flow-only frame
    methods = report["methods"]
    assert methods["static"]["psnr"] == pytest.approx(methods["flow-only"]["psnr"])
    assert methods["apr"]["psnr"] == pytest.approx(methods["flow-only"]["psnr"])
    assert methods["static"]["seconds_per_pair"] > 0
    assert len(report["per_triplet"]) == 2


def test_eval_command_rejects_an_empty_folder(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(evaluate)
    result = CliRunner().invoke(app, [str(tmp_path)])
    assert result.exit_code != 0


def test_middlebury_layout(tmp_path: Path) -> None:
    for scene in ("Alpha", "Beta"):
        (tmp_path / "other-data" / scene).mkdir(parents=True)
        (tmp_path / "other-gt-interp" / scene).mkdir(parents=True)
        write_image(tmp_path / "other-data" / scene / "frame10.png", pattern(0, width=32, height=24))
        write_image(tmp_path / "other-data" / scene / "frame11.png", pattern(2, width=32, height=24))
        write_image(tmp_path / "other-gt-interp" / scene / "frame10i11.png", pattern(1, width=32, height=24))
    found = open_eval_set(tmp_path, limit=1)
    assert found.layout == "middlebury" and found.count == 1 and found.skipped == 1
    assert [t.name for t in found.triplets] == ["Alpha"]
