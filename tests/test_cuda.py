"""The CUDA code paths against the CPU: the splat, the splat plan, the correlation, the model (static
and APR), bf16 autocast against fp32, static against APR with every route on, and the Interpolator
end to end. No PyAV: the frames are drawn with numpy.

Marked ``cuda`` and skipped without a GPU. ``APRVFI_TEST_DEVICE=cpu`` runs the device side on the
CPU at smaller sizes (CPU against CPU, in the other memory layout too), so the tests themselves run
where no GPU is; ``APRVFI_TEST_DEVICE=cuda`` insists on the GPU.

Tolerances: fp32 on the GPU differs from the CPU by rounding only. Its scatters are atomic (the
additions on a pixel come in any order) and cuDNN, cuBLAS and cuSPARSE sum in their own orders, so
sums of a few O(1) terms agree to about 1e-6; the tolerances below sit about 100x above the fp32
against fp64 differences of the same computations on the CPU. cuDNN's TF32 (on by default) is
turned off where fp32 is compared (``exact_fp32``), and left as users get it in the Interpolator test.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from aprvfi_cli.engine.interpolator import Interpolator, load_model
from aprvfi_cli.eval.metrics import psnr
from aprvfi_cli.model import APRVFI, ModelConfig, PairState, Routing, SynthesisOutput
from aprvfi_cli.model.patch_context import SplatContext
from aprvfi_cli.model.weights import resolve_weights
from aprvfi_cli.ops.correlation import local_correlation
from aprvfi_cli.ops.splat import forward_splat
from aprvfi_cli.ops.splat_plan import plan_splat
from aprvfi_cli.placement import Placement, resolve_placement

EBME = Path(__file__).resolve().parents[1] / "weights" / "ebme-bi-flownet.pkl"


def _device() -> torch.device | None:
    name = os.environ.get("APRVFI_TEST_DEVICE", "").strip().lower()
    if name:
        return torch.device(name)
    return torch.device("cuda") if torch.cuda.is_available() else None


DEVICE = _device()
ON_GPU = DEVICE is not None and DEVICE.type == "cuda"
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(DEVICE is None, reason="no CUDA device (APRVFI_TEST_DEVICE=cpu runs these on the CPU)"),
]
# (H, W): device against CPU; bf16 against fp32; the clip (not a multiple of 64: padding and cropping run)
SMALL = (128, 192) if ON_GPU else (64, 128)
LARGE = (720, 1280) if ON_GPU else (128, 256)
CLIP = (170, 300) if ON_GPU else (90, 150)
T = torch.tensor([0.3, 0.7])  # one t per pair of a batch of 2
TIMES = [0.25, 0.5, 0.75]
LAYOUTS = pytest.mark.parametrize(
    "layout", [torch.contiguous_format, torch.channels_last], ids=["contiguous", "channels_last"]
)


@pytest.fixture(autouse=True, scope="module")
def one_thread_on_the_cpu():
    """One torch thread in the CPU mode: on a busy 2-core machine a second, spinning OpenMP thread
    slows every small op down (as for the training tests)."""
    threads = torch.get_num_threads()
    if not ON_GPU:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def exact_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """fp32 computes fp32 on the GPU: cuDNN's TF32 (on by default) reads 10 bits of each mantissa."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # the trainer turns it on for the process


def scene(index: int, *, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 frame ``index``: a smooth texture panning 3 px per frame, crossed by a square of
    another texture moving 9 px right and 4 px down per frame (motion, occlusion, no flat areas)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)

    def texture(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        waves = [
            0.5 + 0.25 * np.sin(u / 13 + v / 23 + p) + 0.15 * np.sin(u / 5.1 - v / 7.7 + 2 * p) for p in (0, 1.3, 2.6)
        ]
        return np.stack(waves, axis=-1)

    image = texture(x + 3.0 * index, y)
    side = max(8, height // 3)
    left, top = width // 6 + 9 * index, height // 4 + 4 * index
    rows, cols = slice(top, min(height, top + side)), slice(left, min(width, left + side))
    image[rows, cols] = 1 - texture((x[rows, cols] - left) * 2.1, (y[rows, cols] - top) * 1.7)
    return (image.clip(0, 1) * 255).round().astype(np.uint8)


def scene_pairs(batch: int, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Frames 0..B-1 and 1..B of the scene as two (B, 3, H, W) float32 batches in [0, 1]."""
    frames = torch.stack([torch.from_numpy(scene(i, height=height, width=width)) for i in range(batch + 1)])
    images = frames.permute(0, 3, 1, 2).float() / 255
    return images[:-1].contiguous(), images[1:].contiguous()


def tensor_psnr(got: Tensor, want: Tensor) -> float:
    """PSNR in dB between two frames in [0, 1] (any device and dtype), peak 1."""
    return psnr(got.detach().float().cpu().numpy() * 255, want.detach().float().cpu().numpy() * 255)


def assert_close(got: Tensor, want: Tensor, *, rtol: float, atol: float) -> None:
    assert got.device.type == DEVICE.type, got.device
    torch.testing.assert_close(got.detach().cpu(), want, rtol=rtol, atol=atol)


def assert_frames_close(got: Tensor, want: Tensor) -> None:
    """Frames in [0, 1] that differ by rounding only: a small mean error, and at most 0.1 % of values
    past 5e-3. A pixel that only a sliver of bilinear weight reaches changes a lot when its flow
    moves by a rounding error (it can even become a hole), so there is no bound on the largest."""
    diff = (got.detach().float().cpu() - want.float()).abs()
    assert diff.mean() <= 5e-5, diff.mean()
    assert (diff > 5e-3).float().mean() <= 1e-3, ((diff > 5e-3).float().mean(), diff.max())


@functools.cache
def network(preset: str) -> APRVFI:
    """The EBME flow weights (a real flow) in a seeded model of ``preset``, with a random head, so every
    block shows in the frame, and a sharper router, so APR both passes and skips, far from ties.
    Shared: copy it before moving it (a move is in place)."""
    torch.manual_seed(0)
    model, _ = resolve_weights(EBME, config=ModelConfig.preset(preset))
    for parameter in model.synthesis.head.parameters():
        torch.nn.init.normal_(parameter, std=0.03)
    with torch.no_grad():
        model.router.classifier.weight.mul_(10)
    return model.eval()


def on(placement: Placement, preset: str) -> APRVFI:
    return placement.to(copy.deepcopy(network(preset)))


@functools.cache
@torch.no_grad()
def cpu_reference(preset: str) -> tuple[PairState, dict[str, SynthesisOutput]]:
    """The CPU's fp32 estimate and its static and APR synthesis of two scene pairs at SMALL (contiguous)."""
    model = network(preset)
    pair = model.estimate(*scene_pairs(2, *SMALL))
    return pair, {mode: model.synthesize(pair, T, routing=Routing(mode=mode)) for mode in ("static", "apr")}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_forward_splat_matches_cpu(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(2, 5, *SMALL, generator=generator).to(dtype)
    flow = torch.randn(2, 2, *SMALL, generator=generator) * 6  # several sources per target, some land outside
    weight = (torch.rand(2, 1, *SMALL, generator=generator) > 0.1).float()
    want = forward_splat(source, flow, weight=weight)
    # Small chunks on the device: chunks and atomics only change the order of the additions.
    got = forward_splat(source.to(DEVICE), flow.to(DEVICE), weight=weight.to(DEVICE), chunk_pixels=10_000)
    assert got.image.dtype == dtype and got.weight.dtype == got.hole.dtype == torch.float32
    # Identical corners and weights on both: a target receives nothing on both or on neither.
    assert torch.equal(got.hole.cpu(), want.hole) and want.hole.sum() > 0
    assert_close(got.weight, want.weight, rtol=1e-5, atol=1e-6)
    # bf16 values: the fp32 sums differ by rounding, so the final rounding to bf16 may differ by one
    # ulp (2^-8 in [0.5, 1)).
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 0.0, "atol": 5e-3}
    assert_close(got.image, want.image, **tolerance)


def test_splat_plan_matches_cpu() -> None:
    generator = torch.Generator().manual_seed(1)
    source = torch.rand(2, 12, *SMALL, generator=generator)
    flow = torch.randn(2, 2, *SMALL, generator=generator) * 6
    weight = (torch.rand(2, 1, *SMALL, generator=generator) > 0.1).float()
    tile = 16
    want = plan_splat(flow, weight=weight, tile=tile)
    got = plan_splat(flow.to(DEVICE), weight=weight.to(DEVICE), tile=tile)
    # The same corners and a stable sort: the same sparse matrix (fp32, 32-bit indices).
    assert got.matrix.device.type == DEVICE.type and got.matrix.dtype == torch.float32
    assert torch.equal(got.matrix.crow_indices().cpu(), want.matrix.crow_indices())
    assert torch.equal(got.matrix.col_indices().cpu(), want.matrix.col_indices())
    assert_close(got.matrix.values(), want.matrix.values(), rtol=1e-6, atol=1e-7)
    assert torch.equal(got.hole.cpu(), want.hole) and want.hole.sum() > 0
    assert_close(got.denominator, want.denominator, rtol=1e-5, atol=1e-6)
    expected = want.apply(source)
    on_device = source.to(DEVICE)
    assert_close(got.apply(on_device), expected, rtol=1e-5, atol=1e-6)
    assert_close(got.apply(on_device.contiguous(memory_format=torch.channels_last)), expected, rtol=1e-5, atol=1e-6)
    # Under autocast the product stays fp32 (cuSPARSE on CUDA) and comes back in the map's dtype.
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
        low = got.apply(on_device.bfloat16())
    assert low.dtype == torch.bfloat16
    assert_close(low.float(), want.apply(source.bfloat16().float()), rtol=0.0, atol=5e-3)
    # Tiles: one run (a slice of the matrix), several runs (a copy of their rows), none.
    last = 2 * (SMALL[0] // tile) * (SMALL[1] // tile) - 1
    for index in ([3, 4, 5, 6], [last, 0, 7, 2, 3], []):
        chosen = torch.tensor(index, dtype=torch.long)
        rows = got.tiles(chosen.to(DEVICE)).apply(on_device)
        assert_close(rows, want.tiles(chosen).apply(source), rtol=1e-5, atol=1e-6)
    # Training reaches the context through the plan: the gradient to the map (S transposed, on cuSPARSE).
    weights = torch.rand(4 * tile * tile, 12, generator=generator)
    gradients = []
    for plan, values in ((got, on_device), (want, source)):
        leaf = values.detach().requires_grad_(True)
        (
            plan.tiles(torch.tensor([5, 9, 10, 11], device=leaf.device)).apply(leaf) * weights.to(leaf.device)
        ).sum().backward()
        gradients.append(leaf.grad)
    assert_close(gradients[0], gradients[1], rtol=1e-5, atol=1e-6)
    assert gradients[1].abs().sum() > 0


@LAYOUTS
def test_correlation_matches_cpu(layout: torch.memory_format, exact_fp32: None) -> None:
    generator = torch.Generator().manual_seed(2)
    feat0, feat1 = (torch.randn(2, 48, 24, 40, generator=generator) for _ in range(2))
    want = local_correlation(feat0, feat1, radius=4)
    got = local_correlation(feat0.to(DEVICE, memory_format=layout), feat1.to(DEVICE, memory_format=layout))
    assert_close(got, want, rtol=1e-5, atol=1e-5)
    # bf16 features, as the flow network makes them under autocast: the products are exact in fp32,
    # so only the order of the sum and the result's rounding to bf16 (2^-9 relative) differ.
    low0, low1 = feat0.bfloat16(), feat1.bfloat16()
    low = local_correlation(low0.to(DEVICE, memory_format=layout), low1.to(DEVICE, memory_format=layout))
    assert low.dtype == torch.bfloat16
    assert_close(low.float(), local_correlation(low0.float(), low1.float()), rtol=1e-2, atol=1e-2)


@LAYOUTS
@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_model_matches_cpu(preset: str, layout: torch.memory_format, exact_fp32: None) -> None:
    want_pair, want = cpu_reference(preset)
    placement = Placement(device=DEVICE, memory_format=layout)
    model = on(placement, preset)
    img0, img1 = (placement.to(x) for x in scene_pairs(2, *SMALL))
    with torch.no_grad():
        pair = model.estimate(img0, img1)
        # about 100x the difference between fp32 and fp64 on the CPU (flows up to 9 px here)
        assert_close(pair.flow, want_pair.flow, rtol=0.0, atol=5e-3)
        levels = zip(pair.context0 + pair.context1, want_pair.context0 + want_pair.context1, strict=True)
        for got_level, want_level in levels:
            assert_close(got_level, want_level, rtol=1e-4, atol=1e-4)
        for mode, expected in want.items():
            out = model.synthesize(
                pair,
                T.to(DEVICE),
                routing=Routing(mode=mode),
                max_patches=placement.patch_batch,  # chunks as the Interpolator runs them; the reference: one
                channels_last=placement.channels_last,
            )
            assert_close(out.route_logits, expected.route_logits, rtol=1e-3, atol=1e-3)
            assert torch.equal(out.route_map.cpu(), expected.route_map), mode
            assert_frames_close(out.frame, expected.frame)
    assert 0 < want["apr"].route_map.float().mean() < 1  # APR ran a real subset of the patches


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_static_equals_apr_with_every_route_on(precision: str, exact_fp32: None) -> None:
    placement = resolve_placement(DEVICE.type, precision)
    model = on(placement, "paper")
    img0, img1 = (placement.to(x) for x in scene_pairs(2, *SMALL))

    def run(routing: Routing) -> SynthesisOutput:
        return model.synthesize(
            pair,
            T.to(DEVICE),
            routing=routing,
            max_patches=placement.patch_batch,
            channels_last=placement.channels_last,
        )

    with torch.no_grad(), placement.autocast():
        pair = model.estimate(img0, img1)
        static = run(Routing(mode="static"))
        every = run(Routing(mode="keep", keep_ratios=(1.0,) * 4))
        fewer = run(Routing(mode="keep", keep_ratios=(0.2,) * 4))
    assert every.route_map.all() and not fewer.route_map.all()
    # The same convolutions on the same patches; bf16: within a quarter of an 8-bit level.
    assert (static.frame - every.frame).abs().max() <= (1e-5 if precision == "fp32" else 1e-3)
    assert (static.frame - fewer.frame).abs().max() > 1e-2  # a real skip shows, so the check above can fail


def test_bf16_autocast_close_to_fp32(exact_fp32: None) -> None:
    placement = resolve_placement(DEVICE.type, "fp32")
    model = on(placement, "paper")
    img0, img1 = (placement.to(x) for x in scene_pairs(1, *LARGE))
    results = {}
    for dtype in (torch.float32, torch.bfloat16):
        running = dataclasses.replace(placement, dtype=dtype)
        with torch.no_grad(), running.autocast():
            pair = model.estimate(img0, img1)
            out = model.synthesize(
                pair,
                0.5,
                routing=Routing(mode="static"),
                max_patches=running.patch_batch,
                channels_last=running.channels_last,
            )
            flow_only = model.flow_only(model.estimate(img0, img1, context=False), 0.5)
        results[dtype] = (pair, out, flow_only)
    (_, full, full_flow_only), (pair, out, flow_only) = results[torch.float32], results[torch.bfloat16]
    assert pair.context0[0].dtype == torch.bfloat16  # the convolutions did run in bf16
    # Coordinates stay fp32: the flows, the splat plans, the hole masks; the frame comes back in fp32.
    assert pair.flow.dtype == out.warped.flow0t.dtype == out.warped.flow1t.dtype == torch.float32
    assert out.warped.hole0.dtype == out.warped.image0.dtype == torch.float32
    assert isinstance(out.warped.context, SplatContext)
    assert out.warped.context.plan0.matrix.dtype == out.warped.context.plan1.matrix.dtype == torch.float32
    assert out.frame.dtype == flow_only.dtype == torch.float32 and bool(torch.isfinite(out.frame).all())
    # bf16 coordinates would be off by 4-8 px past 1024 px: far below 40 dB
    assert tensor_psnr(out.frame, full.frame) > 40
    assert tensor_psnr(flow_only, full_flow_only) > 40


def clip() -> list[np.ndarray]:
    return [scene(i, height=CLIP[0], width=CLIP[1]) for i in range(4)]


def interpolate_clip(interpolator: Interpolator, frames: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Every pair of ``frames`` at TIMES, as the video commands batch them."""
    made = interpolator.interpolate_pairs(frames[:-1], frames[1:], [TIMES] * (len(frames) - 1))
    assert [len(pair) for pair in made] == [len(TIMES)] * (len(frames) - 1)
    for image in (image for pair in made for image in pair):
        assert image.shape == (*CLIP, 3) and image.dtype == np.uint8 and image.flags.c_contiguous
    return made


def assert_clips_close(got: list[list[np.ndarray]], want: list[list[np.ndarray]], floor_db: float) -> None:
    scores = [psnr(a, b) for made, truth in zip(got, want, strict=True) for a, b in zip(made, truth, strict=True)]
    assert min(scores) > floor_db, scores


def test_interpolator_flow_only_end_to_end() -> None:
    frames = clip()
    on_cpu = interpolate_clip(load_model(EBME, device="cpu", precision="fp32"), frames)
    for precision, floor_db in (("auto", 45.0), ("fp32", 50.0)):
        interpolator = load_model(EBME, device=DEVICE.type, precision=precision)
        assert interpolator.method == "flow-only" and interpolator.device.type == DEVICE.type
        batch = interpolator.to_tensor(frames)
        assert batch.device.type == DEVICE.type
        assert batch.is_contiguous(memory_format=interpolator.placement.memory_format)
        assert_clips_close(interpolate_clip(interpolator, frames), on_cpu, floor_db)
        middle = interpolator.interpolate(frames[0], frames[1], 0.5)  # one pair, one t
        assert psnr(middle, on_cpu[0][1]) > floor_db


def test_interpolator_model_end_to_end() -> None:
    frames = clip()
    placement = resolve_placement(DEVICE.type, "auto")
    static = Routing(mode="static")  # the router's argmax could flip a patch between bf16 and fp32
    on_cpu = interpolate_clip(Interpolator(copy.deepcopy(network("paper")), routing=static), frames)
    interpolator = Interpolator(copy.deepcopy(network("paper")), placement=placement, routing=static)
    assert interpolator.model.synthesis.head[0].weight.device.type == DEVICE.type
    assert_clips_close(interpolate_clip(interpolator, frames), on_cpu, 45.0)
    # APR: frames and the patches each dynamic block ran, per t of each pair
    apr = Interpolator(copy.deepcopy(network("paper")), placement=placement)
    made, maps = apr.interpolate_with_routes(apr.to_tensor(frames[:-1]), apr.to_tensor(frames[1:]), [TIMES] * 3)
    config = apr.model.config
    multiple = config.pad_multiple(config.levels_for_width(CLIP[1]))
    grid = tuple(math.ceil(side / multiple) * multiple // config.patch_size for side in CLIP)
    for frames_made, passed in zip(made, maps, strict=True):
        assert frames_made.shape == (len(TIMES), 3, *CLIP) and frames_made.dtype == torch.float32
        assert frames_made.device.type == DEVICE.type and bool(((frames_made >= 0) & (frames_made <= 1)).all())
        assert passed is not None and passed.shape == (len(TIMES), 4, *grid) and passed.dtype == torch.bool
