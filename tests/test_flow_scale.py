"""The flow estimated at 1, 1/2 or 1/4 of the frame's resolution, and auto's choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aprvfi_cli.engine.interpolator import Interpolator, load_model
from aprvfi_cli.errors import UsageError
from aprvfi_cli.model.flow_scale import auto_flow_scale, check_flow_scale
from aprvfi_cli.model.weights import flow_only_model
from aprvfi_cli.ops.padding import pad_to_multiple
from aprvfi_cli.placement import Placement


@pytest.fixture(scope="module")
def model():
    return flow_only_model().eval()


def texture(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1]: random texture at four scales (noise upscaled x4 to x32, bicubic)."""
    generator = torch.Generator().manual_seed(seed)
    layers = []
    for factor in (4, 8, 16, 32):
        coarse = torch.rand(1, 3, height // factor + 2, width // factor + 2, generator=generator)
        layers.append(F.interpolate(coarse, scale_factor=factor, mode="bicubic", align_corners=False))
    return (sum(layer[..., :height, :width] for layer in layers) / len(layers)).clamp(0, 1)


@torch.no_grad()
def test_full_scale_is_the_flow_network_unchanged(model) -> None:
    img0, img1 = texture(100, 130), texture(100, 130, seed=1)
    pair = model.estimate(img0, img1, context=False, flow_scale=1)
    levels = model.config.levels_for_width(130)
    stride = 2 ** (levels + 1)
    direct = model.flow(pad_to_multiple(img0, stride)[0], pad_to_multiple(img1, stride)[0], levels=levels)
    assert torch.equal(pair.flow[..., : direct.shape[-2], : direct.shape[-1]], direct)  # bit for bit
    assert pair.flow_scales == (1.0,)


@torch.no_grad()
@pytest.mark.parametrize("scale, tolerance", [(0.5, 0.5), (0.25, 1.0)])
def test_a_translation_is_recovered_in_full_frame_pixels(model, scale: float, tolerance: float) -> None:
    """Content moving by (+8, +8) px: F01 is (8, 8) and F10 (-8, -8), in pixels of the full frame
    (a vector left in pixels of the downscaled frame would read 4 or 2)."""
    big = texture(460, 600)
    img0 = big[..., 40:424, 40:552]  # 512x384
    img1 = big[..., 32:416, 32:544]  # the same content 8 px right and 8 px down
    pair = model.estimate(img0, img1, context=False, flow_scale=scale)
    assert pair.flow.shape == (1, 4, 384, 512) and pair.flow.dtype == torch.float32
    assert pair.flow_scales == (scale,)
    inner = pair.flow[0, :, 64:320, 64:448].flatten(1).median(dim=1).values
    torch.testing.assert_close(inner, torch.tensor([8.0, 8.0, -8.0, -8.0]), rtol=0, atol=tolerance)


@torch.no_grad()
def test_flow_stays_fp32_under_bf16_autocast(model) -> None:
    img0, img1 = texture(64, 96), texture(64, 96, seed=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pair = model.estimate(img0, img1, context=False, flow_scale=0.5)
    assert pair.flow.dtype == torch.float32


def test_bad_scales_are_refused() -> None:
    assert check_flow_scale("auto") == "auto" and check_flow_scale("0.5") == 0.5 and check_flow_scale(1) == 1.0
    for bad in ("0.3", "half", 2, None):
        with pytest.raises(ValueError, match="flow scale must be auto, 1, 0.5 or 0.25"):
            check_flow_scale(bad)
    with pytest.raises(UsageError) as caught:
        load_model(device="cpu", flow_scale="0.3")
    assert caught.value.subject == "flow_scale"


@pytest.mark.parametrize(
    "size, scale",
    [
        ((720, 1280), 0.5),  # the flow sees 360 lines
        ((1280, 720), 0.5),  # portrait: the shorter side counts
        ((719, 1280), 1.0),
        ((1080, 1920), 0.5),  # 1/4 would leave 270 lines
        ((1080, 2048), 0.5),
        ((2160, 3840), 0.25),
        ((436, 1024), 1.0),  # Sintel
        ((480, 640), 1.0),  # Middlebury
        ((40, 64), 1.0),
    ],
)
def test_auto_keeps_360_lines(size: tuple[int, int], scale: float) -> None:
    assert auto_flow_scale(*size) == scale


@torch.no_grad()
def test_auto_runs_the_scale_it_picks(model) -> None:
    img0, img1 = texture(720, 1280), texture(720, 1280, seed=3)
    auto = model.estimate(img0, img1, context=False, flow_scale="auto")
    half = model.estimate(img0, img1, context=False, flow_scale=0.5)
    assert auto.flow_scales == (0.5,) and torch.equal(auto.flow, half.flow)


def test_the_interpolator_says_which_scale_ran(model) -> None:
    a, b = (np.ascontiguousarray((texture(48, 64, seed=s)[0].permute(1, 2, 0) * 255).byte().numpy()) for s in (4, 5))
    interpolator = Interpolator(model, method="flow-only", placement=Placement.cpu())
    assert interpolator.describe_flow_scale() == "flow scale auto"
    interpolator.interpolate_pairs([a, a], [b, b], [[0.5], [0.25, 0.75]])
    assert interpolator.describe_flow_scale() == "flow at full scale (auto)"
    assert interpolator.describe().endswith(", flow at full scale (auto)")
    quarter = Interpolator(model, method="flow-only", placement=Placement.cpu(), flow_scale="0.25")
    quarter.interpolate(a, b, 0.5)
    assert quarter.describe_flow_scale() == "flow at 1/4 scale"
    quarter.flow_scales_run.update([1.0])  # as auto reports a run whose frame sizes differ
    assert quarter.describe_flow_scale() == "flow at full scale for 1 pairs, 1/4 scale for 1 pairs"


def test_cli_flag_on_a_command_that_runs_the_model(cli, tmp_path) -> None:
    from conftest import assert_one_error, pattern

    from aprvfi_cli.video.images import write_image

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(a, pattern(0, width=64, height=48))
    write_image(b, pattern(3, width=64, height=48))
    result = cli("pair", a, b, "-o", tmp_path / "mid.png")
    assert result.code == 0 and "flow at full scale (auto)" in result.err, result.err
    result = cli("pair", a, b, "-o", tmp_path / "half.png", "--flow-scale", "0.5")
    assert result.code == 0 and "flow at 1/2 scale" in result.err, result.err
    assert_one_error(cli("pair", a, b, "-o", tmp_path / "bad.png", "--flow-scale", "2"), 2, "--flow-scale", "0.25")
    assert not (tmp_path / "bad.png").exists()
