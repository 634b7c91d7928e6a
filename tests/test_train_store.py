"""The prepared training store: build, split, stored flow, error-weighted crops, flow augmentation,
the dev set's paired gain, and a tiny training run on the store (stages 2 and 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_clip
from test_train_command import fake_cache
from typer.testing import CliRunner

from aprvfi_cli.cli.data_commands import data_app
from aprvfi_cli.cli.train_command import train_app
from aprvfi_cli.data.store import Store, StoreSettings, split_clip
from aprvfi_cli.eval.paired import PairedGain
from aprvfi_cli.eval.sets import open_eval_set
from aprvfi_cli.model import ModelConfig
from aprvfi_cli.model.weights import flow_only_model, read_weights
from aprvfi_cli.train.augment import AugmentConfig, augment_with_flow
from aprvfi_cli.train.selection import BestDev, weight_average
from aprvfi_cli.train.store_crops import CellPool, StoreBatches, StoreSampling

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store from a generated cache: one 24-frame clip (train + dev) and 3 synthetic triplets."""
    root = tmp_path_factory.mktemp("store")
    cache = fake_cache(root / "cache")
    make_clip(cache / "clips/moving.mp4", frames=24, width=96, height=64)
    manifest = json.loads((cache / "manifest.json").read_text())
    manifest["clips"]["clips/moving.mp4"]["triplets"] = [[i, i + 1, i + 2] for i in range(22)]
    (cache / "manifest.json").write_text(json.dumps(manifest))
    out = root / "store"
    result = CliRunner().invoke(
        data_app, ["store", "--dir", str(cache), "--out", str(out), "--synthetic", "3", "--train-per-clip", "6"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_split_keeps_dev_frames_out_of_training() -> None:
    triplets = [(i, i + 1, i + 2) for i in range(98)]
    train, dev = split_clip(triplets, 100, StoreSettings(train_per_clip=1000, dev_per_clip=1000))
    assert len(dev) >= 18 and len(train) >= 70
    assert max(c for _, _, c in train) < min(a for a, _, _ in dev)


def test_store_holds_whole_frame_flow_and_flow_only_error(store: Path) -> None:
    opened = Store(store)
    assert opened.names("dev") == ["dev-moving_mp4"]
    assert set(opened.names("train")) == {"train-moving_mp4", "train-synthetic"}
    triplet = opened.triplet("dev-moving_mp4", 0)
    assert triplet.frame0.shape == (64, 96, 3) and triplet.flow.shape == (4, 64, 96)
    model = flow_only_model().eval()
    with torch.no_grad():
        pair = model.estimate(
            *(
                torch.from_numpy(np.array(f)).permute(2, 0, 1)[None].float() / 255
                for f in (triplet.frame0, triplet.frame1)
            ),
            context=False,
        )
    # the stored flow is the whole frame's, in fp16
    assert torch.allclose(torch.from_numpy(np.array(triplet.flow)).float(), pair.flow[0, :, :64, :96], atol=0.02)
    assert opened.arrays("dev-moving_mp4")["error"].shape[1:] == (2, 3)  # 32-px cells
    assert opened.groups["train-synthetic"]["count"] == 3


def test_error_weighted_crops_find_the_only_hard_cell(store: Path, tmp_path: Path) -> None:
    opened = Store(store)
    error = opened.arrays("train-moving_mp4")["error"]
    hard = np.zeros_like(error)
    hard[2, 1, 2] = 1.0  # triplet 2, cell row 1, column 2: pixels y 32-63, x 64-95
    opened._arrays["train-moving_mp4"] = {**opened.arrays("train-moving_mp4"), "error": hard}
    pool = CellPool(opened, ["train-moving_mp4"], crop=48, uniform_share=0.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        name, index, top, left = pool.draw(rng)
        assert (name, index) == ("train-moving_mp4", 2)
        assert top <= 32 + 16 < top + 48 and left <= 64 + 16 < left + 48  # the crop holds the cell's centre
    uniform = CellPool(opened, ["train-moving_mp4"], crop=48, uniform_share=1.0)
    assert len({uniform.draw(rng)[1] for _ in range(200)}) > 3


def test_store_batches_are_deterministic_and_shaped(store: Path) -> None:
    batches = StoreBatches(StoreSampling(store=str(store)), crop=32, batch_size=3, seed=5, stream=2)
    first, again = batches[7], batches[7]
    assert first["flow"].shape == (3, 4, 32, 32) and first["frame0"].shape == (3, 3, 32, 32)
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_flow_augmentation_turns_vectors_with_the_frames() -> None:
    """A single bright pixel moves by the flow; after any augmentation it still does."""
    for seed in range(32):
        frame0, truth, frame1 = torch.zeros(3, 16, 16), torch.zeros(3, 16, 16), torch.zeros(3, 16, 16)
        frame0[:, 3, 5] = 1
        frame1[:, 9, 12] = 1  # dx = 7, dy = 6
        flow = torch.tensor([7.0, 6.0, -7.0, -6.0]).view(4, 1, 1).expand(4, 16, 16)
        (a, _, b), turned, _ = augment_with_flow(
            (frame0, truth, frame1), flow, 0.5, np.random.default_rng(seed), AugmentConfig()
        )
        (ya, xa), (yb, xb) = (torch.nonzero(x[0] > 0.5)[0].tolist() for x in (a, b))
        assert turned[:2, ya, xa].tolist() == [xb - xa, yb - ya]
        assert turned[2:, yb, xb].tolist() == [xa - xb, ya - yb]


def test_paired_gain_interval() -> None:
    floor = np.array([30.0, 31.0, 32.0, 33.0])
    gain = PairedGain.of(floor + np.array([0.1, 0.3, 0.1, 0.3]), floor)
    assert gain.mean == pytest.approx(0.2)
    half = 1.96 * np.std([0.1, 0.3, 0.1, 0.3], ddof=1) / 2
    assert (gain.low, gain.high) == pytest.approx((0.2 - half, 0.2 + half))


def test_training_on_the_store_logs_the_dev_gain(store: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [
        "--run-dir",
        str(run),
        "--store",
        str(store),
        "--preset",
        "tiny",
        "--stages",
        "2,3",
        "--steps",
        "2,2",
        "--crop",
        "32,64",
        "--batch-size",
        "2",
        "--warmup",
        "1",
        "--workers",
        "0",
        "--init",
        "ebme",
        "--validate-every",
        "0",
        "--no-progress",
        "--stage3-rank",
        "batch",
    ]
    trained = CliRunner().invoke(train_app, args)
    assert trained.exit_code == 0, trained.output
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    validations = [r for r in log if r["event"] == "validation"]
    assert [r["stage"] for r in validations] == [2, 3]
    assert validations[0]["dev_triplets"] == Store(store).groups["dev-moving_mp4"]["count"]
    assert (
        validations[0]["dev_static_gain_low"]
        <= validations[0]["dev_static_gain"]
        <= validations[0]["dev_static_gain_high"]
    )
    assert 0 <= validations[-1]["dev_apr_patches_run"] <= 1 and "dev_apr_worst_clip_gain" in validations[-1]


def test_a_stage_keeps_its_best_averaged_dev_weights_and_the_next_starts_from_them(store: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["--run-dir", str(run), "--store", str(store), "--preset", "tiny", "--stages", "2,3"]
    args += ["--steps", "4,1", "--crop", "32,64", "--batch-size", "2", "--warmup", "1", "--lr", "3e-3"]
    args += ["--workers", "0", "--init", "ebme", "--validate-every", "1", "--no-progress", "--stage3-rank", "batch"]
    args += ["--ema-decay", "0.5", "--worst-clip-floor", "-100"]
    trained = CliRunner().invoke(train_app, args)
    assert trained.exit_code == 0, trained.output
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    stage2 = [r for r in log if r["event"] == "validation" and r["stage"] == 2]
    assert len(stage2) == 4
    best = max(stage2, key=lambda r: r["dev_static_gain"])
    assert best["best"] == str(run / "aprvfi-best-stage2.pt")
    card = read_weights(run / "aprvfi-best-stage2.pt")["metadata"]
    assert card["dev"]["dev_static_gain"] == best["dev_static_gain"] and card["progress"]["step"] == best["step"]
    assert [r["from"] for r in log if r["event"] == "stage"] == [str(run / "aprvfi-best-stage2.pt")]
    # the run's weights are the average: 0.5 * (previous average) + 0.5 * (trained weights), not the last
    trained_head = torch.load(next((run / "checkpoints").glob("stage3-*")) / "state.pt", weights_only=False)
    saved = read_weights(run / "aprvfi-latest.pt")["state_dict"]
    key = next(k for k in saved if k.startswith("synthesis.") and k.endswith("weight"))
    assert not torch.equal(saved[key], trained_head["model"][key])


def test_best_dev_counts_only_validations_above_the_worst_clip_floor() -> None:
    best = BestDev()
    assert best.consider(gain=0.01, worst_clip_gain=-0.01, step=100, worst_clip_floor=-0.05)
    assert not best.consider(gain=0.05, worst_clip_gain=-0.2, step=200, worst_clip_floor=-0.05)
    assert not best.consider(gain=0.00, worst_clip_gain=0.0, step=300, worst_clip_floor=-0.05)
    assert (best.gain, best.step, best.stale) == (0.01, 100, 2)
    assert best.consider(gain=0.02, worst_clip_gain=-0.05, step=400, worst_clip_floor=-0.05)
    assert (best.step, best.stale) == (400, 0)


def test_weight_average_is_an_exponential_moving_average() -> None:
    model = torch.nn.Linear(2, 1)
    average = weight_average(model, 0.75)
    first = model.weight.detach().clone()
    average.update_parameters(model)  # the first update takes the weights as they are
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update_parameters(model)
    torch.testing.assert_close(average.module.weight, first + 0.25)
    assert weight_average(model, 0.0) is None
    with pytest.raises(ValueError, match="decay"):
        weight_average(model, 1.0)


def test_store_refuses_stage_1(store: Path, tmp_path: Path) -> None:
    args = [
        "--run-dir",
        str(tmp_path / "run"),
        "--store",
        str(store),
        "--preset",
        "tiny",
        "--stages",
        "1",
        "--steps",
        "1",
        "--workers",
        "0",
        "--no-progress",
    ]
    result = CliRunner().invoke(train_app, args)
    assert result.exit_code != 0 and "frozen flow" in str(result.exception or result.output)


def test_tiny_preset_keeps_the_ebme_flow() -> None:
    """The store's flow comes from the paper preset's flow network; the tiny preset trains on it too."""
    assert ModelConfig.tiny().correlation_radius == ModelConfig.paper().correlation_radius


def test_eval_reads_the_store_dev_split_and_reports_paired_gains(store: Path, tmp_path: Path) -> None:
    from aprvfi_cli.cli import app

    dev = Store(store).groups["dev-moving_mp4"]["count"]
    assert open_eval_set(store).count == dev and open_eval_set(store).layout == "store dev set"
    out = tmp_path / "dev.json"
    result = CliRunner().invoke(app, ["eval", str(store), "--methods", "flow-only,static", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["triplets"] == dev
    gain = report["gain_over_flow_only"]["static"]
    assert gain["count"] == dev and gain["low"] <= gain["mean"] <= gain["high"]
    # the shipped default (or the EBME flow alone) scores the same flow-only frames as the store
    assert report["methods"]["flow-only"]["psnr"] > 20
