"""Invariants of the APR-VFI network on the tiny preset (random weights, small frames)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from aprvfi_cli.model import APRVFI, ModelConfig, Routing
from aprvfi_cli.model.patch_context import WarpedContext
from aprvfi_cli.model.routing_policy import route_decisions
from aprvfi_cli.ops.patches import all_patches


@pytest.fixture
def model() -> APRVFI:
    torch.manual_seed(0)
    net = APRVFI(ModelConfig.tiny()).eval()
    # The head starts at zero (flow-only output); randomise it so every block shows in the frame.
    for parameter in net.synthesis.head.parameters():
        torch.nn.init.normal_(parameter, std=0.1)
    return net


def frames(height: int = 48, width: int = 64, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(batch, 3, height, width, generator=generator), torch.rand(
        batch, 3, height, width, generator=generator
    )


@torch.no_grad()
def test_dynamic_with_every_route_on_equals_static(model: APRVFI) -> None:
    pair = model.estimate(*frames())
    static = model.synthesize(pair, 0.5, routing=Routing(mode="static")).frame
    all_on = model.synthesize(pair, 0.5, routing=Routing(mode="keep", keep_ratios=(1.0,) * 4)).frame
    assert (static - all_on).abs().max() <= 1e-5
    # And a real skip does change the frame, so the comparison above can fail.
    fewer = model.synthesize(pair, 0.5, routing=Routing(mode="keep", keep_ratios=(0.2,) * 4)).frame
    assert (static - fewer).abs().max() > 1e-4


def test_inference_in_place_sum_equals_autograds(model: APRVFI) -> None:
    # Without autograd routed blocks write into the carried feature; with it every block makes a new one.
    routing = Routing(mode="keep", keep_ratios=(0.2, 0.5, 0.7, 0.9))
    with torch.no_grad():
        pair = model.estimate(*frames(96, 128))
        in_place = model.synthesize(pair, 0.5, routing=routing).frame
    tracked = model.synthesize(pair, 0.5, routing=routing).frame
    assert tracked.requires_grad
    assert torch.equal(in_place, tracked.detach())


@torch.no_grad()
def test_skipped_patch_inherits_previous_feature(model: APRVFI) -> None:
    patches, size = 6, model.config.patch_size
    width, channels = model.config.block_widths[0], model.config.context_channels
    guide = torch.rand(patches, 12, size, size)
    # Six patches side by side in one frame; patch i is flat index i.
    context = WarpedContext(
        context0=list(torch.rand(5, 1, channels, size, patches * size)),
        context1=list(torch.rand(5, 1, channels, size, patches * size)),
        patch_size=size,
    )
    route = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1], [0, 1, 0, 1]]).float()
    seen: list[int] = []
    hooks = [b.register_forward_hook(lambda _m, i, _o: seen.append(i[0].shape[0])) for b in model.synthesis.blocks]
    features = model.synthesis.refine(guide=guide, index=torch.arange(patches), context=context, route=route)
    for hook in hooks:
        hook.remove()
    assert features[0].shape == (patches, width, size, size)
    assert seen == [patches] + route.sum(0).int().tolist()  # blocks only saw the routed patches
    for k in range(1, 5):
        for patch in range(patches):
            same = torch.equal(features[k][patch], features[k - 1][patch])
            assert same == (route[patch, k - 1] == 0), (k, patch)


def test_dynamic_flops_scale_with_routed_patches(model: APRVFI) -> None:
    pair = model.estimate(*frames(128, 128))  # 64 patches of 16 px

    def synthesis_flops(routing: Routing) -> int:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model.synthesize(pair, 0.5, routing=routing)
        return counter.get_total_flops()

    static = synthesis_flops(Routing(mode="static"))
    none = synthesis_flops(Routing(mode="keep", keep_ratios=(0.0,) * 4))
    for ratio in (0.25, 0.5):
        dynamic = synthesis_flops(Routing(mode="keep", keep_ratios=(ratio,) * 4))
        assert (dynamic - none) / (static - none) == pytest.approx(ratio, abs=0.02)


def test_paper_preset_has_2_2m_parameters() -> None:
    count = sum(p.numel() for p in APRVFI(ModelConfig.paper()).parameters())
    assert abs(count - 2.2e6) / 2.2e6 < 0.15
    router = sum(p.numel() for p in APRVFI(ModelConfig.paper()).router.parameters())
    assert 3_000 < router < 7_000


@pytest.mark.parametrize("height, width", [(37, 53), (64, 64), (71, 130)])
@torch.no_grad()
def test_any_frame_size_comes_back_at_its_size(model: APRVFI, height: int, width: int) -> None:
    out = model(*frames(height, width), 0.5)
    assert out.frame.shape == (1, 3, height, width)
    assert out.frame.min() >= 0 and out.frame.max() <= 1
    size = model.config.patch_size
    assert out.route_map.shape[1] == 4
    assert out.route_map.shape[2] * size >= height and out.route_map.shape[3] * size >= width


@torch.no_grad()
def test_flow_once_many_t_and_mixed_t_batches(model: APRVFI) -> None:
    img0, img1 = frames(batch=2)
    pair = model.estimate(img0, img1)
    routing = Routing(mode="static")
    singles = [
        model.synthesize(pair.select(torch.tensor([b])), t, routing=routing).frame for b, t in ((0, 0.2), (1, 0.7))
    ]
    mixed = model.synthesize(pair, torch.tensor([0.2, 0.7]), routing=routing).frame
    torch.testing.assert_close(mixed, torch.cat(singles), rtol=0, atol=1e-5)
    repeated = pair.select(torch.tensor([0, 0, 0]))
    several = model.synthesize(repeated, torch.tensor([0.25, 0.5, 0.75]), routing=routing).frame
    single = model.synthesize(pair.select(torch.tensor([0])), 0.5, routing=routing).frame
    torch.testing.assert_close(several[1:2], single)


@torch.no_grad()
def test_releasing_the_context_gives_the_same_frame(model: APRVFI) -> None:
    pair = model.estimate(*frames(64, 96, batch=2))
    assert pair.select(torch.tensor([0, 1])) is pair  # every pair in order: no copy of the context
    kept = model.synthesize(pair, 0.3, max_patches=5).frame
    assert len(pair.context0) == model.config.num_blocks  # kept for the next t
    released = model.synthesize(pair, 0.3, max_patches=5, release_context=True).frame
    assert torch.equal(kept, released)
    assert pair.context0 == [] and pair.context1 == []  # moved into the synthesis, freed with it
    with pytest.raises(ValueError, match="context levels"):
        model.synthesize(pair, 0.6)


@torch.no_grad()
def test_patch_chunking_does_not_change_the_result(model: APRVFI) -> None:
    pair = model.estimate(*frames(64, 96))
    whole = model.synthesize(pair, 0.4).frame
    chunked = model.synthesize(pair, 0.4, max_patches=5).frame
    torch.testing.assert_close(whole, chunked, rtol=0, atol=1e-6)
    fast = model.to(memory_format=torch.channels_last).synthesize(pair, 0.4).frame  # the CPU layout
    torch.testing.assert_close(whole, fast, rtol=0, atol=1e-5)


@torch.no_grad()
def test_routed_blocks_keep_the_channels_last_layout(model: APRVFI) -> None:
    # A block fed NCHW in a channels_last model runs about 16 % slower on the CPU (BENCHMARKS §2).
    net = model.to(memory_format=torch.channels_last)
    pair = net.estimate(*frames(64, 96))
    layouts: list[bool] = []
    hooks = [
        block.register_forward_pre_hook(
            lambda _m, i: layouts.append(i[0].is_contiguous(memory_format=torch.channels_last))
        )
        for block in [*net.synthesis.blocks, net.synthesis.head]
    ]
    net.synthesize(pair, 0.5, routing=Routing(mode="keep", keep_ratios=(0.3, 0.5, 0.5, 0.8)), channels_last=True)
    for hook in hooks:
        hook.remove()
    assert len(layouts) == 6 and all(layouts)


@torch.no_grad()
def test_apr_mode_follows_router_argmax_and_keep_takes_top_scores() -> None:
    logits = torch.randn(2, 4, 2, 3, 5)
    apr = route_decisions(logits, Routing(mode="apr"))
    assert torch.equal(apr.bool(), logits[:, :, 1] > logits[:, :, 0])
    keep = route_decisions(logits, Routing.parse("0.1,0.4,0.6,0.9"))
    assert keep.sum(dim=(2, 3)).tolist() == [[2, 6, 9, 14]] * 2
    score = (logits[:, :, 1] - logits[:, :, 0]).flatten(2)
    kept_min = torch.where(keep.flatten(2).bool(), score, torch.inf).amin(2)
    dropped_max = torch.where(keep.flatten(2).bool(), -torch.inf, score).amax(2)
    assert torch.all(kept_min[:, :3] > dropped_max[:, :3])


def test_training_mode_routes_by_gumbel_and_gradients_reach_router(model: APRVFI) -> None:
    model.train()
    img0, img1 = frames()
    out = model(img0, img1, 0.5)
    assert set(out.route_map.unique().tolist()) <= {False, True}
    out.frame.mean().backward()
    assert model.router.classifier.weight.grad is not None
    assert model.router.classifier.weight.grad.abs().sum() > 0


def test_zero_head_reproduces_flow_only_interpolation() -> None:
    net = APRVFI(ModelConfig.tiny()).eval()
    with torch.no_grad():
        pair = net.estimate(*frames())
        torch.testing.assert_close(net.synthesize(pair, 0.3).frame, net.flow_only(pair, 0.3), rtol=0, atol=1e-6)
        without_context = net.estimate(*frames(), context=False)
        assert without_context.context0 == [] and without_context.context1 == []
        torch.testing.assert_close(net.flow_only(without_context, 0.3), net.flow_only(pair, 0.3), rtol=0, atol=0)


def test_routing_parse() -> None:
    assert Routing.parse("APR").mode == "apr"
    assert Routing.parse("static").mode == "static"
    assert Routing.parse("0.1,0.4,0.6,0.9").keep_ratios == (0.1, 0.4, 0.6, 0.9)
    for bad in ("fast", "0.1,x", "1.5,0.2,0.2,0.2"):
        with pytest.raises(ValueError):
            Routing.parse(bad)


def test_shape_errors_are_clear(model: APRVFI) -> None:
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model.estimate(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))


@torch.no_grad()
def test_bf16_autocast_at_720p_warps_like_fp32(model: APRVFI) -> None:
    # Under CPU bf16 autocast the context is bf16; its splat positions must stay fp32 (bf16 put them
    # 4-8 px off above 512 px and crashed on the last row of a 1280x720 frame). The flow is given: bf16
    # convolutions are emulated, hence slow, on CPUs without AVX512-BF16.
    img0, img1 = frames(720, 1280)
    flow = torch.nn.functional.interpolate(
        torch.randn(1, 4, 9, 16, generator=torch.Generator().manual_seed(2)) * 4, size=(720, 1280), mode="bilinear"
    )
    reference = model.warp(model.estimate(img0, img1, flow=flow), 0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pair = model.estimate(img0, img1, flow=flow)
        warped = model.warp(pair, 0.5)
    assert pair.context0[0].dtype == torch.bfloat16  # the case that crashed
    assert pair.flow.dtype == torch.float32 and warped.flow0t.dtype == torch.float32
    assert torch.equal(warped.hole0, reference.hole0) and torch.equal(warped.hole1, reference.hole1)
    torch.testing.assert_close(warped.image0, reference.image0)
    every = all_patches(warped.image0, model.config.patch_size)
    for k in range(model.config.num_blocks):
        for level, expected in zip(warped.context.at(every)(k), reference.context.at(every)(k), strict=True):
            torch.testing.assert_close(level.float(), expected, rtol=0.02, atol=0.02)


@torch.no_grad()
def test_bf16_autocast_model_matches_fp32(model: APRVFI) -> None:
    img0, img1 = frames(32, 64)
    static = Routing(mode="static")
    reference = model(img0, img1, 0.5, routing=static).frame
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model.flow(img0, img1, levels=3).dtype == torch.float32
        frame = model(img0, img1, 0.5, routing=static).frame
    error = (frame.float() - reference).abs()
    assert error.mean() < 5e-3 and error.max() < 0.05


@torch.no_grad()
def test_paper_flops_count_the_network_not_the_splatting() -> None:
    # 1.732 TFLOPs at 2048x1080 (the paper's 1.73 T); a sparse splat counted as a dense product
    # once read 1404 T. Pinned at 256x128, where the network is quick to run.
    net = APRVFI(ModelConfig.paper()).eval()
    img0, img1 = frames(128, 256)
    counter = FlopCounterMode(display=False)
    with counter:
        net.synthesize(net.estimate(img0, img1), 0.5, routing=Routing(mode="static"))
    assert counter.get_total_flops() == 24_023_166_976


@torch.no_grad()
def test_flow_only_is_the_warped_blend_on_the_content(model: APRVFI) -> None:
    """flow_only splats the content only (no padding weight) and blends once: the frame warp().blend() gives."""
    torch.manual_seed(1)
    img0, img1 = torch.rand(2, 3, 70, 90), torch.rand(2, 3, 70, 90)
    pair = model.estimate(img0, img1, context=False)
    for t in (0.5, torch.tensor([0.2, 0.7])):
        padded = model.warp(pair, t).blend()[..., :70, :90]
        assert torch.equal(model.flow_only(pair, t), padded)
