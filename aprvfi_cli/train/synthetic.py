"""Synthetic triplets from real photographs: a background and cut-out foreground layers in motion.

Every layer is a photo texture seen through a soft-edged mask (ellipse or star polygon) and
moves by its own affine motion about its centre c:

    A(tau): p -> c + tau * d + R(tau * theta) * exp(tau * s) * (p - c)        (tau in [0, 1])

so frames at 0, t and 1 are rendered exactly (inverse mapping + bilinear texture lookup), layers
occlude each other back to front, and the flow of the front-most layer at each pixel is known
in closed form: the ground truth for the middle frame *and* the flows, for any t, with
displacements as large as asked. Rotation makes the path curved, so F0t is not exactly t * F01,
as in real footage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class SyntheticConfig:
    """How triplets are drawn.

    Attributes:
        height, width: frame size (px).
        layers: (min, max) number of foreground layers.
        max_motion: largest foreground displacement from frame 0 to frame 1 (px).
        background_motion: largest background displacement from frame 0 to frame 1 (px).
        max_rotation: largest rotation of a layer from frame 0 to frame 1 (degrees).
        max_log_scale: largest |log| of a layer's zoom from frame 0 to frame 1.
        object_size: (min, max) foreground radius as a fraction of min(height, width).
        softness: (min, max) edge softness of the masks (px).
        texture_zoom: (min, max) scale of the photo texture on a layer.
        uniform_t: probability that t is drawn uniformly in [0.1, 0.9] (else t = 0.5).
    """

    height: int = 256
    width: int = 256
    layers: tuple[int, int] = (1, 4)
    max_motion: float = 128.0
    background_motion: float = 32.0
    max_rotation: float = 15.0
    max_log_scale: float = 0.15
    object_size: tuple[float, float] = (0.1, 0.35)
    softness: tuple[float, float] = (0.5, 2.0)
    texture_zoom: tuple[float, float] = (0.6, 1.4)
    uniform_t: float = 0.3


@dataclass(frozen=True)
class Layer:
    """One layer's texture, mask and motion (all in px of the frame)."""

    photo: int
    offset: tuple[float, float]  # texture pixel of canonical (0, 0): (x, y)
    zoom: float
    center: tuple[float, float]
    translation: tuple[float, float]
    rotation: float  # radians, frame 0 -> 1
    log_scale: float
    shape: str  # "full" (background), "ellipse" or "star"
    radii: tuple[float, ...]  # ellipse: (a, b, angle); star: one radius per vertex
    angles: tuple[float, ...]  # star vertex angles (radians, sorted)
    softness: float


@dataclass(frozen=True)
class SyntheticTriplet:
    """A rendered triplet with its exact ground truth. Images (3, H, W) in [0, 1]; flows (2, H, W) px.

    ``flow_ab`` is the forward flow from frame a to frame b of the surface visible in frame a;
    ``front_*`` (H, W) is the index of the front-most layer (alpha >= 0.5) per pixel and
    ``solid_*`` (H, W) bool marks pixels inside a layer, away from its soft edge.
    """

    frame0: Tensor
    frame_t: Tensor
    frame1: Tensor
    t: float
    flow01: Tensor
    flow10: Tensor
    flow0t: Tensor
    flow1t: Tensor
    flow_t0: Tensor
    flow_t1: Tensor
    front0: Tensor
    front_t: Tensor
    front1: Tensor
    solid0: Tensor
    solid_t: Tensor
    solid1: Tensor


def sample_layers(rng: np.random.Generator, config: SyntheticConfig, photo_sizes: list[tuple[int, int]]) -> list[Layer]:
    """Draw a background and foreground layers (deterministic given ``rng``)."""
    height, width = config.height, config.width
    side = min(height, width)
    layers = []
    count = int(rng.integers(config.layers[0], config.layers[1] + 1))
    for index in range(count + 1):
        background = index == 0
        photo = int(rng.integers(len(photo_sizes)))
        photo_h, photo_w = photo_sizes[photo]
        zoom = float(rng.uniform(*config.texture_zoom))
        offset = (
            float(rng.uniform(0, max(1.0, photo_w - width * zoom))),
            float(rng.uniform(0, max(1.0, photo_h - height * zoom))),
        )
        reach = config.background_motion if background else config.max_motion
        magnitude, direction = float(rng.uniform(0, reach)), float(rng.uniform(0, 2 * math.pi))
        center = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
        rotation = math.radians(float(rng.uniform(-1, 1)) * config.max_rotation * (0.3 if background else 1.0))
        log_scale = float(rng.uniform(-1, 1)) * config.max_log_scale * (0.3 if background else 1.0)
        radius = float(rng.uniform(*config.object_size)) * side
        if background:
            shape, radii, angles = "full", (), ()
        elif rng.random() < 0.5:
            shape, radii, angles = (
                "ellipse",
                (radius, radius * float(rng.uniform(0.4, 1.0)), float(rng.uniform(0, math.pi))),
                (),
            )
        else:
            vertices = int(rng.integers(3, 10))
            angles = tuple(sorted(float(a) for a in rng.uniform(0, 2 * math.pi, vertices)))
            shape, radii = "star", tuple(float(r) for r in radius * rng.uniform(0.45, 1.0, vertices))
        layers.append(
            Layer(
                photo=photo,
                offset=offset,
                zoom=zoom,
                center=center,
                translation=(magnitude * math.cos(direction), magnitude * math.sin(direction)),
                rotation=rotation,
                log_scale=log_scale,
                shape=shape,
                radii=radii,
                angles=angles,
                softness=float(rng.uniform(*config.softness)),
            )
        )
    return layers


def _affine(layer: Layer, tau: float) -> tuple[Tensor, Tensor]:
    """A(tau) as (2x2 matrix M, 2-vector b): q = M p + b."""
    angle, scale = tau * layer.rotation, math.exp(tau * layer.log_scale)
    matrix = scale * torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float32
    )
    center = torch.tensor(layer.center, dtype=torch.float32)
    shift = center + tau * torch.tensor(layer.translation, dtype=torch.float32) - matrix @ center
    return matrix, shift


def _apply(matrix: Tensor, shift: Tensor, points: Tensor) -> Tensor:
    """points (..., 2) -> matrix @ p + shift."""
    return points @ matrix.T + shift


def _mask(layer: Layer, points: Tensor) -> Tensor:
    """Alpha in [0, 1] of ``layer`` at canonical ``points`` (H, W, 2)."""
    if layer.shape == "full":
        return torch.ones(points.shape[:-1], dtype=points.dtype)
    rel = points - torch.tensor(layer.center, dtype=points.dtype)
    if layer.shape == "ellipse":
        a, b, phi = layer.radii
        x = rel[..., 0] * math.cos(phi) + rel[..., 1] * math.sin(phi)
        y = -rel[..., 0] * math.sin(phi) + rel[..., 1] * math.cos(phi)
        distance = (torch.sqrt((x / a) ** 2 + (y / b) ** 2) - 1) * min(a, b)
    else:
        angle = torch.atan2(rel[..., 1], rel[..., 0]) % (2 * math.pi)
        knots = torch.tensor(layer.angles + (layer.angles[0] + 2 * math.pi,), dtype=points.dtype)
        radii = torch.tensor(layer.radii + (layer.radii[0],), dtype=points.dtype)
        # angles below the first vertex wrap around to the last segment
        angle = torch.where(angle < knots[0], angle + 2 * math.pi, angle)
        segment = (torch.searchsorted(knots, angle.contiguous(), right=True) - 1).clamp(0, len(layer.radii) - 1)
        left, right = knots[segment], knots[segment + 1]
        weight = (angle - left) / (right - left).clamp_min(1e-9)
        radius = radii[segment] * (1 - weight) + radii[segment + 1] * weight
        distance = rel.norm(dim=-1) - radius
    return torch.sigmoid(-distance / layer.softness)


def _texture(photo: Tensor, layer: Layer, points: Tensor) -> Tensor:
    """(3, H, W) texture of ``layer`` at canonical ``points`` (H, W, 2); photo (3, Hp, Wp) float."""
    height, width = photo.shape[-2:]
    pixel = points * layer.zoom + torch.tensor(layer.offset, dtype=points.dtype)
    grid = torch.stack([pixel[..., 0] / (width - 1), pixel[..., 1] / (height - 1)], dim=-1) * 2 - 1
    # reflection keeps large motions inside real texture instead of a flat border colour
    return F.grid_sample(photo[None], grid[None], mode="bilinear", padding_mode="reflection", align_corners=True)[0]


def _render(photos: list[Tensor], layers: list[Layer], tau: float, grid: Tensor) -> tuple[Tensor, Tensor, Tensor, list]:
    """Frame at time ``tau``: (image (3, H, W), front (H, W) long, solid (H, W) bool, canonical points per layer)."""
    image = torch.zeros(3, *grid.shape[:2])
    front = torch.zeros(grid.shape[:2], dtype=torch.long)
    front_alpha = torch.ones(grid.shape[:2], dtype=torch.float32)
    canonical = []
    for index, layer in enumerate(layers):
        matrix, shift = _affine(layer, tau)
        inverse = torch.linalg.inv(matrix)
        points = _apply(inverse, -inverse @ shift, grid)
        canonical.append(points)
        alpha = _mask(layer, points)
        image = alpha * _texture(photos[layer.photo], layer, points) + (1 - alpha) * image
        on_top = alpha >= 0.5
        front = torch.where(on_top, index, front)
        front_alpha = torch.where(on_top, alpha, front_alpha * (1 - alpha))
    return image.clamp(0, 1), front, front_alpha > 0.99, canonical


def _flow(layers: list[Layer], canonical: list[Tensor], front: Tensor, grid: Tensor, tau: float) -> Tensor:
    """Forward flow (2, H, W) from the rendered frame to time ``tau``, of each pixel's front layer."""
    flow = torch.zeros(*grid.shape[:2], 2, dtype=torch.float32)
    for index, layer in enumerate(layers):
        matrix, shift = _affine(layer, tau)
        moved = _apply(matrix, shift, canonical[index]) - grid
        flow = torch.where((front == index)[..., None], moved, flow)
    return flow.permute(2, 0, 1)


def render_triplet(photos: list[Tensor], layers: list[Layer], *, t: float, size: tuple[int, int]) -> SyntheticTriplet:
    """Render frames 0, t, 1 and every flow between them.

    Args:
        photos: (3, Hp, Wp) float textures in [0, 1].
        layers: from :func:`sample_layers`, background first.
        t: time of the middle frame in (0, 1).
        size: (H, W) of the frames.
    """
    ys, xs = torch.meshgrid(
        torch.arange(size[0], dtype=torch.float32), torch.arange(size[1], dtype=torch.float32), indexing="ij"
    )
    grid = torch.stack([xs, ys], dim=-1)
    frame0, front0, solid0, canon0 = _render(photos, layers, 0.0, grid)
    frame_t, front_t, solid_t, canon_t = _render(photos, layers, t, grid)
    frame1, front1, solid1, canon1 = _render(photos, layers, 1.0, grid)
    return SyntheticTriplet(
        frame0=frame0,
        frame_t=frame_t,
        frame1=frame1,
        t=t,
        flow01=_flow(layers, canon0, front0, grid, 1.0),
        flow10=_flow(layers, canon1, front1, grid, 0.0),
        flow0t=_flow(layers, canon0, front0, grid, t),
        flow1t=_flow(layers, canon1, front1, grid, t),
        flow_t0=_flow(layers, canon_t, front_t, grid, 0.0),
        flow_t1=_flow(layers, canon_t, front_t, grid, 1.0),
        front0=front0,
        front_t=front_t,
        front1=front1,
        solid0=solid0,
        solid_t=solid_t,
        solid1=solid1,
    )


def draw_t(rng: np.random.Generator, config: SyntheticConfig) -> float:
    """t = 0.5, or with probability ``uniform_t`` uniform in [0.1, 0.9]."""
    return float(rng.uniform(0.1, 0.9)) if rng.random() < config.uniform_t else 0.5


def synthetic_triplet(photos: list[Tensor], config: SyntheticConfig, rng: np.random.Generator) -> SyntheticTriplet:
    """Draw layers and t from ``rng`` and render (the whole recipe, deterministic in ``rng``)."""
    layers = sample_layers(rng, config, [tuple(p.shape[-2:]) for p in photos])
    return render_triplet(photos, layers, t=draw_t(rng, config), size=(config.height, config.width))


def synthetic_triplet_uint8(
    photos: list[np.ndarray], size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A layered synthetic triplet as (frame0, truth, frame1) uint8 (size, size, 3) and its t: the
    store's renderer (``render_synthetic`` of :func:`aprvfi_cli.data.store.build_store`)."""
    tensors = [torch.from_numpy(p).permute(2, 0, 1).float() / 255 for p in photos]
    triplet = synthetic_triplet(tensors, SyntheticConfig(height=size, width=size, max_motion=size * 3 / 8), rng)

    def to_uint8(frame: Tensor) -> np.ndarray:
        return (frame.permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()

    return to_uint8(triplet.frame0), to_uint8(triplet.frame_t), to_uint8(triplet.frame1), float(triplet.t)
