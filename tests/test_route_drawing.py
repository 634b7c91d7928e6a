"""The route-map picture: one panel per dynamic block, lit where the block ran the patch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aprvfi_cli.engine.interpolator import Interpolator
from aprvfi_cli.engine.route_drawing import render_route_map
from aprvfi_cli.model import APRVFI, ModelConfig, Routing
from aprvfi_cli.placement import Placement


def test_panels_light_exactly_the_routed_patches() -> None:
    frame = np.full((100, 130, 3), 200, np.uint8)
    route = np.zeros((4, 2, 3), bool)
    route[0, 0, 0] = True  # block 1 ran the top-left patch only
    route[3] = True  # block 4 ran everything
    picture = render_route_map(frame, route, patch_size=64)
    assert picture.shape == (2 * (100 + 16) + 8, 2 * 130 + 8, 3)
    block1 = picture[:100, :130]
    assert (block1[10:50, 10:50] == 200).all()  # inside the routed patch: the frame itself
    assert (block1[80:, 80:] == 60).all()  # skipped: dimmed
    assert (picture[124:224, 138:] == 200).all()  # block 4 (bottom right) ran every patch: no outline
    assert (block1[63, 10] == [255, 140, 0]).all() and (block1[10, 63] == [255, 140, 0]).all()  # its outline
    label = picture[100:116, :130]
    assert (label < 128).any() and (picture[100:116, 138:] < 128).any()  # each panel's words, in black


def test_route_map_must_cover_the_frame() -> None:
    with pytest.raises(ValueError, match="does not cover"):
        render_route_map(np.zeros((200, 64, 3), np.uint8), np.ones((4, 1, 1), bool), patch_size=64)


def test_interpolator_route_map_matches_its_frame() -> None:
    torch.manual_seed(0)
    model = APRVFI(ModelConfig.tiny()).eval()
    for parameter in model.synthesis.parameters():
        parameter.data.normal_(0, 0.05)
    interpolator = Interpolator(model, method="model", placement=Placement.cpu(), routing=Routing(mode="apr"))
    rng = np.random.default_rng(0)
    img0, img1 = (rng.integers(0, 255, (70, 90, 3), dtype=np.uint8) for _ in range(2))
    frame, route = interpolator.route_map(img0, img1, 0.5)
    assert frame.shape == (70, 90, 3) and route.dtype == bool
    assert route.shape[0] == model.config.num_dynamic_blocks
    assert np.array_equal(frame, interpolator.interpolate(img0, img1, 0.5))
    flow_only = Interpolator(model, method="flow-only", placement=Placement.cpu())
    with pytest.raises(ValueError, match="flow-only"):
        flow_only.route_map(img0, img1)


def test_pair_draws_the_route_map(cli, tmp_path) -> None:
    from conftest import assert_one_error, pattern

    from aprvfi_cli.model.weights import save_weights
    from aprvfi_cli.video.images import read_image, write_image

    torch.manual_seed(3)
    model = APRVFI(ModelConfig.tiny())
    with torch.no_grad():
        for parameter in model.synthesis.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    weights = tmp_path / "tiny.pt"
    save_weights(weights, model)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_image(a, pattern(0, width=72, height=40))
    write_image(b, pattern(3, width=72, height=40))
    result = cli("pair", a, b, "-o", tmp_path / "mid.png", "--route-map", tmp_path / "map.png", "--weights", weights)
    assert result.code == 0, result.err
    picture = read_image(tmp_path / "map.png")
    assert picture.shape == (2 * (40 + 16) + 8, 2 * 72 + 8, 3)  # four dynamic blocks, 2x2 panels
    assert_one_error(
        cli("pair", a, b, "-o", tmp_path / "m.png", "-n", "2", "--route-map", tmp_path / "x.png", "--weights", weights),
        2,
        "route-map",
    )
    assert_one_error(cli("pair", a, b, "-o", tmp_path / "m2.png", "--route-map", tmp_path / "y.png"), 2, "flow-only")
    assert not (tmp_path / "m2.png").exists() and not (tmp_path / "y.png").exists()
