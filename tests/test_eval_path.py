"""``aprvfi eval`` scores the frames users get: the same Interpolator path as ``pair`` and ``convert``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_one_error, pattern

from aprvfi_cli.engine.interpolator import Interpolator, load_model
from aprvfi_cli.eval.evaluate import method_interpolators, predict
from aprvfi_cli.model import APRVFI, ModelConfig
from aprvfi_cli.model.weights import resolve_weights, save_weights
from aprvfi_cli.video.images import read_image, write_image


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny aprvfi weights file whose synthesis head is not zero (so apr differs from flow-only)."""
    torch.manual_seed(3)
    model = APRVFI(ModelConfig.tiny())
    with torch.no_grad():
        for parameter in model.synthesis.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    path = tmp_path_factory.mktemp("trained") / "tiny.pt"
    save_weights(path, model)
    return path


@pytest.fixture()
def frames(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(a, pattern(0, width=72, height=40))
    write_image(b, pattern(3, width=72, height=40))
    return a, b


@pytest.mark.parametrize(("method", "spec"), [("apr", "trained"), ("static", "trained"), ("flow-only", "ebme")])
def test_eval_frame_equals_the_pair_frame(cli, tmp_path, frames, trained, weights_dir, method, spec) -> None:
    weights = trained if spec == "trained" else weights_dir / "ebme-bi-flownet.pkl"
    route = "static" if method == "static" else "apr"
    out = tmp_path / "mid.png"
    result = cli("pair", *frames, "-o", out, "--weights", weights, "--route", route, "--device", "cpu")
    assert result.code == 0, result.err
    interpolators = method_interpolators(load_model(weights, "cpu", "auto"), methods=(method,))
    made = predict(interpolators[method], read_image(frames[0]), read_image(frames[1]))
    assert np.array_equal(made.frame, read_image(out))


def test_eval_uses_the_placement_and_patch_chunks_of_convert(trained: Path) -> None:
    served = load_model(trained, "cpu", "auto")
    scored = method_interpolators(served)["apr"]
    assert scored.placement == served.placement and scored.max_patches == served.max_patches
    assert scored.model.synthesis.blocks[0].encode0[0][0].weight.is_contiguous(memory_format=torch.channels_last)


def test_eval_accepts_an_ebme_file_and_reports_one_line_errors(cli, tmp_path: Path, weights_dir: Path) -> None:
    for i in range(3):
        write_image(tmp_path / f"frame_{i}.png", pattern(i, width=64, height=48))
    out = tmp_path / "scores.json"
    ebme = weights_dir / "ebme-bi-flownet.pkl"
    result = cli("eval", tmp_path, "--weights", ebme, "--device", "cpu", "--precision", "fp32", "--json", out,
                 "--methods", "flow-only,apr")  # fmt: skip
    assert result.code == 0, result.err
    report = json.loads(out.read_text())
    assert "flow-only" in report["weights"] and report["device"].startswith("cpu, fp32")
    assert report["methods"]["apr"]["psnr"] == pytest.approx(report["methods"]["flow-only"]["psnr"])
    assert_one_error(cli("eval", tmp_path, "--weights", tmp_path / "none.pt"), 2, "--weights", "not found")
    assert_one_error(cli("eval", tmp_path, "--methods", "magic"), 2, "--methods")
    assert_one_error(cli("eval", tmp_path, "--route", "0.1,x"), 2, "--route")
    assert_one_error(cli("eval", tmp_path, "--device", "tpu"), 2, "--device")
    assert_one_error(cli("eval", tmp_path / "missing"), 2, "missing")


def test_route_flow_is_flow_only_whatever_the_weights(cli, trained: Path, tmp_path: Path) -> None:
    """--route flow: the fast end of the dial runs the network's flow alone, and says so."""
    a, b = pattern(0, width=64, height=48), pattern(3, width=64, height=48)
    fast = load_model(trained, "cpu", "fp32", route="flow")
    model, _ = resolve_weights(trained)
    reference = Interpolator(model, method="flow-only", placement=fast.placement)
    assert fast.method == "flow-only" and "route flow" in fast.describe()
    assert np.array_equal(fast.interpolate(a, b, 0.5), reference.interpolate(a, b, 0.5))
    assert not np.array_equal(fast.interpolate(a, b, 0.5), load_model(trained, "cpu", "fp32").interpolate(a, b, 0.5))
    write_image(tmp_path / "a.png", a)
    write_image(tmp_path / "b.png", b)
    result = cli("pair", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "m.png", "--weights", trained,
                 "--route", "flow", "--device", "cpu")  # fmt: skip
    assert result.code == 0, result.err
    assert "flow-only interpolation (route flow" in result.err
