"""``aprvfi data check`` and ``aprvfi train`` end to end on a small generated cache (tiny preset)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_clip
from typer.testing import CliRunner

from aprvfi_cli.cli.data_commands import data_app
from aprvfi_cli.cli.train_command import train_app
from aprvfi_cli.data.holdout import sha256_file
from aprvfi_cli.model.weights import load_weights
from aprvfi_cli.video.images import write_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fake_cache(root: Path) -> Path:
    """Two textures and one clip, with a manifest as ``aprvfi data prepare`` writes it."""
    (root / "photos").mkdir(parents=True)
    (root / "clips").mkdir()
    generator = torch.Generator().manual_seed(0)
    files = []
    for index in range(2):
        coarse = torch.rand(1, 3, 12, 16, generator=generator)
        image = F.interpolate(coarse, size=(96, 128), mode="bicubic").clamp(0, 1)[0].permute(1, 2, 0).numpy()
        name = f"photos/texture{index}.png"
        write_image(root / name, (image * 255).round().astype(np.uint8))
        files.append(name)
    make_clip(root / "clips/moving.mp4", frames=8, width=64, height=48)
    files.append("clips/moving.mp4")
    entries = [
        {
            "file": f,
            "source_path": f,
            "source_sha256": sha256_file(root / f),
            "sha256": sha256_file(root / f),
            "licence": "CC0-1.0",
            "bytes": (root / f).stat().st_size,
        }
        for f in files
    ]
    manifest = {
        "format": "aprvfi-data/1",
        "sources": [{"package": "test", "kind": "deb", "version": "1", "licence": "CC0-1.0", "files": entries}],
        "clips": {"clips/moving.mp4": {"fps": 30.0, "triplets": [[i, i + 1, i + 2] for i in range(6)]}},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_data_check_and_a_tiny_training_run(tmp_path: Path) -> None:
    cache = fake_cache(tmp_path / "cache")
    runner = CliRunner()
    checked = runner.invoke(data_app, ["check", "--dir", str(cache)])
    assert checked.exit_code == 0, checked.output
    assert "CC0-1.0 (3)" in checked.output

    run = tmp_path / "run"
    args = [
        "--run-dir",
        str(run),
        "--cache",
        str(cache),
        "--preset",
        "tiny",
        "--stages",
        "2,3",
        "--steps",
        "2,2",
        "--crop",
        "32,32",
        "--batch-size",
        "2",
        "--warmup",
        "1",
        "--workers",
        "0",
        "--init",
        "none",
        "--validate-every",
        "0",
        "--validation-triplets",
        "2",
        "--no-progress",
        "--clip-fraction",
        "0.5",
    ]
    trained = runner.invoke(train_app, args)
    assert trained.exit_code == 0, trained.output
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    validations = [r for r in log if r["event"] == "validation"]
    assert [r["stage"] for r in validations] == [2, 3]
    assert "apr_psnr" in validations[-1] and validations[-1]["flow_only_psnr"] > 0
    assert log[-1]["event"] == "done"
    model = load_weights(run / "aprvfi.pt")
    assert model.config.name == "tiny"
    assert (run / "checkpoints" / "latest").read_text().strip() == "stage3-step00000002"


def test_a_terminated_background_run_leaves_a_checkpoint(tmp_path: Path) -> None:
    # `nohup aprvfi train ... &` ignores Ctrl-C: kill (SIGTERM) is how such a run is stopped, and it
    # must not lose the steps since the last timed checkpoint
    cache = fake_cache(tmp_path / "cache")
    run = tmp_path / "run"
    script = "import sys; from aprvfi_cli.cli import main; sys.exit(main(['train', *sys.argv[1:]]))"
    args = ["--run-dir", str(run), "--cache", str(cache), "--preset", "tiny", "--stages", "2", "--steps", "100000"]
    args += ["--crop", "32", "--batch-size", "2", "--workers", "0", "--init", "none", "--threads", "1"]
    args += ["--validate-every", "0", "--log-every", "1", "--no-progress"]
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = run / "log.jsonl"
    deadline = time.monotonic() + 120
    while (
        not (log.is_file() and '"step"' in log.read_text()) and time.monotonic() < deadline and process.poll() is None
    ):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "stopped by SIGTERM: saving a checkpoint" in output
    latest = (run / "checkpoints" / "latest").read_text().strip()
    assert latest.startswith("stage2-step") and int(latest.removeprefix("stage2-step")) >= 1
    assert load_weights(run / "aprvfi-latest.pt").config.name == "tiny"
