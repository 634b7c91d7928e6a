"""Average splatting of many maps along one flow, as one sparse matrix applied to each.

The model warps each frame's image and its five context levels (63 channels) along the same
flow. :func:`forward_splat` would recompute the four bilinear corners and scatter row by row
for every one of them; a :class:`SplatPlan` computes the corners once, as a sparse matrix S
(target pixels x source pixels, an entry for each corner that lands in the frame, rows sorted by
target), and splats a map as the product ``S @ values``: at 2048x1088 a 12-channel level takes
0.23 s against 1.28 s (one core), and the same code runs on CUDA.

A plan made with ``tile`` orders its rows tile by tile (each tile's pixels row-major), so the
rows of any run of consecutive tiles are one slice of the matrix: a block reading a chunk of
patches takes its rows without a copy, and a routed subset costs one copy of its own rows.
Those rows read only the band of source rows that the flow's vertical extent can bring to the
tiles, so a map of another dtype (bf16 context) is converted band by band, not whole for every chunk.

The result equals :func:`forward_splat`'s up to the order of the additions. Gradients reach the
values (training the context) but not the flow: a learned flow needs :func:`forward_splat`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from aprvfi_cli.ops.splat import canvas_corners, canvas_of, corner_offsets, frame_on_canvas


def _check_map(source: Tensor, size: tuple[int, int, int]) -> None:
    """``source`` must be a (B, C, H, W) map of the plan's ``size`` (B, H, W)."""
    batch, height, width = size
    if source.dim() != 4 or source.shape[0] != batch or source.shape[-2:] != (height, width):
        raise ValueError(f"expected a ({batch}, C, {height}, {width}) map, got {tuple(source.shape)}")


def _csr(crow: Tensor, col: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    """A sparse CSR matrix, valid by construction (the check would cost a pass over it)."""
    with warnings.catch_warnings():  # torch calls sparse CSR "beta"; the product used here is long stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


def _source_rows(source: Tensor, first: int, stop: int) -> Tensor:
    """Rows [first, stop) of ``source`` (B, C, H, W), counted over (b, y), as (pixels, C) in (b, y, x)
    order: a view of a channels_last map within one frame, else a copy of the band only."""
    _, channels, height, _ = source.shape
    pieces = [
        source[b, :, max(first - b * height, 0) : min(stop - b * height, height)].permute(1, 2, 0).reshape(-1, channels)
        for b in range(first // height, -(-stop // height))
    ]
    if not pieces:
        return source.new_empty(0, channels)
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces)


@dataclass(frozen=True)
class SplatRows:
    """Some target pixels of a :class:`SplatPlan`, ready to apply to any number of maps.

    Attributes:
        matrix: (R, n) sparse CSR, the plan's rows of those R pixels; its columns count source
            pixels from the first of ``source_rows``.
        denominator: (R, 1) the weight landed on each of them; a hole's 0 becomes 1, so holes
            come out 0 (the EBME convention).
        size: (B, H, W) of the maps it reads.
        source_rows: [first, stop) over the maps' B*H rows: the band whose pixels land on these
            rows; only it is read (and converted to the plan's dtype).
    """

    matrix: Tensor
    denominator: Tensor
    size: tuple[int, int, int]
    source_rows: tuple[int, int]

    def apply(self, source: Tensor) -> Tensor:
        """Splat ``source`` (B, C, H, W), any float dtype, onto the rows: (R, C) in its dtype."""
        _check_map(source, self.size)
        values = _source_rows(source, *self.source_rows).to(self.matrix.dtype)
        with torch.autocast(source.device.type, enabled=False):  # autocast would make S bf16
            splatted = torch.sparse.mm(self.matrix, values)  # (R, C), in the plan's precision
        tracked = torch.is_grad_enabled() and source.requires_grad
        splatted = splatted / self.denominator if tracked else splatted.div_(self.denominator)
        return splatted.to(source.dtype)


@dataclass(frozen=True)
class SplatPlan:
    """Average splatting along one flow, ready to apply to any number of maps.

    Attributes:
        matrix: (N, N) sparse CSR bilinear weights, N = B*H*W; row = target pixel, column =
            source pixel (flat (b, y, x)). Rows are in (b, y, x) order, or tile by tile.
        denominator: (N, 1) the weight landed on each row's pixel, 1 in holes (>= fp32).
        weight: (B, 1, H, W) sum of the bilinear weights that land on each pixel (>= fp32).
        hole: (B, 1, H, W) float mask, 1 where nothing lands (>= fp32).
        tile: the side of the tiles the rows are grouped by, or None for (b, y, x) order.
        tile_entries: with tiles, the entry where each tile's rows start, and the number of entries
            (B*H*W / tile**2 + 1 values, read once at the build so that selecting tiles reads nothing back).
        reach: with tiles, per frame, how many rows a source may land below and above its own
            (the flow's vertical extent, rounded out): the band of source rows a run of tiles reads.
    """

    matrix: Tensor
    denominator: Tensor
    weight: Tensor
    hole: Tensor
    tile: int | None = None
    tile_entries: tuple[int, ...] = ()
    reach: tuple[tuple[int, int], ...] = ()

    @property
    def size(self) -> tuple[int, int, int]:
        """(B, H, W) of the maps the plan splats."""
        batch, _, height, width = self.weight.shape
        return batch, height, width

    def apply(self, source: Tensor) -> Tensor:
        """Splat ``source`` (B, C, H, W), any float dtype: (B, C, H, W) in its dtype, 0 in holes.

        The result is laid out channels_last in memory (a free view of the product for an
        untiled plan); a channels_last source is read without a copy.
        """
        batch, height, width = self.size
        image = SplatRows(self.matrix, self.denominator, self.size, (0, batch * height)).apply(source)
        if self.tile is not None:
            image = _untile(image, self.size, self.tile)
        return image.view(batch, height, width, source.shape[1]).permute(0, 3, 1, 2)

    def tiles(self, index: Tensor) -> SplatRows:
        """The rows of the tiles at flat tile indices ``index`` (N,) over (B, H/tile, W/tile),
        tile after tile, each row-major: N * tile * tile rows, selected once for any number of
        maps. A run of consecutive tiles is a slice of the plan (no copy); other tiles cost a
        copy of their own rows only, so a skipped patch costs nothing."""
        if self.tile is None or not self.tile_entries:
            raise ValueError("this plan was made without tiles")
        per, starts = self.tile * self.tile, self.tile_entries
        crow, col, val = self.matrix.crow_indices(), self.matrix.col_indices(), self.matrix.values()
        runs = _runs(index)
        _, height, width = self.size
        if not runs:  # no tiles: an empty slice
            return SplatRows(_csr(crow.new_zeros(1), col[:0], val[:0], (0, 0)), self.denominator[:0], self.size, (0, 0))
        # Source rows (over B*H) that can land in the tile rows from the first tile's to the last one's.
        frame_tiles, tiles_across = height * width // per, width // self.tile
        low, high = min(first for first, _ in runs), max(first + count - 1 for first, count in runs)  # any order
        top = (low % frame_tiles) // tiles_across * self.tile
        bottom = ((high % frame_tiles) // tiles_across + 1) * self.tile
        band = (
            low // frame_tiles * height + max(top - 1 - self.reach[low // frame_tiles][0], 0),
            high // frame_tiles * height + min(bottom + self.reach[high // frame_tiles][1], height),
        )
        if len(runs) == 1:  # views, no copy
            first, count = runs[0]
            begin, end = starts[first], starts[first + count]
            sub_crow = crow[first * per : (first + count) * per + 1] - begin
            sub_col, sub_val = col[begin:end], val[begin:end]
            denominator = self.denominator[first * per : (first + count) * per]
        else:  # each run's entries follow the previous run's: one shift per tile of a run
            spans = [(starts[first], starts[first + count], count) for first, count in runs]  # entries of each run
            shifts, total = [], 0
            for begin, end, count in spans:
                shifts += [total - begin] * count
                total += end - begin
            shift = torch.tensor(shifts, dtype=crow.dtype).to(crow.device, non_blocking=True)
            tile_rows = crow[:-1].view(-1, per)[index] + shift[:, None]
            sub_crow = torch.cat([tile_rows.view(-1), crow.new_full((1,), total)])
            sub_col = torch.cat([col[begin:end] for begin, end, _ in spans])
            sub_val = torch.cat([val[begin:end] for begin, end, _ in spans])
            denominator = self.denominator.view(-1, per, 1)[index].view(-1, 1)
        sub_col = sub_col - band[0] * width  # columns from the band's first pixel
        matrix = _csr(sub_crow, sub_col, sub_val, (index.numel() * per, (band[1] - band[0]) * width))
        return SplatRows(matrix, denominator, self.size, band)


def _untile(rows: Tensor, size: tuple[int, int, int], tile: int) -> Tensor:
    """(B*H*W, C) ``rows`` in tile-by-tile order -> the same in (b, y, x) order (one copy)."""
    batch, height, width = size
    tiles = rows.view(batch, height // tile, width // tile, tile, tile, rows.shape[1])
    return tiles.permute(0, 1, 3, 2, 4, 5).reshape(rows.shape)


def _runs(index: Tensor) -> list[tuple[int, int]]:
    """``index`` (N,) as runs of consecutive values: [(first, length), ...], in order."""
    values = index.tolist()  # a few hundred at most: a chunk's patches
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and runs[-1][0] + runs[-1][1] == value:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((value, 1))
    return runs


def plan_splat(flow: Tensor, *, weight: Tensor | None = None, tile: int | None = None) -> SplatPlan:
    """Build the splat of every pixel along ``flow``.

    Args:
        flow: (B, 2, H, W) displacement in pixels (x right, y down); used in fp32 at least.
        weight: optional (B, 1, H, W) importance of each source pixel (default 1); a pixel of
            weight 0 (e.g. padding) lands nowhere.
        tile: order the rows tile by tile, tiles of this side (it must divide H and W), for
            :meth:`SplatPlan.tiles`; None keeps (b, y, x) order.

    Returns:
        The :class:`SplatPlan`; its matrix, weight and hole are fp32 (fp64 for an fp64 flow).
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (B, 2, H, W), got {tuple(flow.shape)}")
    batch, _, height, width = flow.shape
    if weight is not None and weight.shape != (batch, 1, height, width):
        raise ValueError(f"weight must be ({batch}, 1, {height}, {width}), got {tuple(weight.shape)}")
    if tile is not None and (tile < 1 or height % tile or width % tile):
        raise ValueError(f"tiles of {tile} px do not divide a {height}x{width} flow")
    device, pixels, rows = flow.device, batch * height * width, batch * height
    precise = torch.promote_types(flow.dtype, torch.float32)
    flow = flow.detach()
    # Corners land on a canvas with a border: one outside the frame lands there and is dropped.
    canvas = canvas_of(batch, height, width)
    cells = canvas[0] * canvas[1] * canvas[2]
    inner = frame_on_canvas(height, width)
    base, bilinear = canvas_corners(
        0,
        rows,
        canvas,
        torch.arange(width, device=device, dtype=precise),
        flow[:, 0].reshape(rows, width).to(precise),
        flow[:, 1].reshape(rows, width).to(precise),
        None if weight is None else weight.detach().reshape(rows, width).to(precise),
    )
    if weight is not None:  # a source of weight 0 lands nowhere: all its corners in the border (cell 0)
        base = base.masked_fill_(weight.reshape(-1) == 0, 0)
    # 32-bit indices where they fit: the matrix is 2/3 the size and 32-bit keys sort faster (BENCHMARKS §6).
    index_dtype = torch.int32 if 4 * max(cells, pixels) < 2**31 else torch.int64
    # Sources sorted by their top-left corner; a corner's target moves with it, so each corner's
    # targets come out sorted too, and four sorted runs are merged by counting (no sort of 4 N keys).
    keys, order = torch.sort(base.to(index_dtype), stable=True)
    position = torch.arange(pixels, device=device)
    first = torch.ones(pixels, dtype=torch.bool, device=device)
    first[1:] = keys[1:] != keys[:-1]
    rank = position - torch.where(first, position, 0).cummax(0).values  # among sources sharing a top-left corner
    sources = torch.bincount(keys, minlength=cells).to(index_dtype).view(canvas)  # per top-left cell
    # Entries landing on each frame pixel by corner (y, x) = 00, 01, 10, 11: the counts shifted by it.
    landed = [sources[frame_on_canvas(height, width, shift=(dy, dx))] for dy in (0, 1) for dx in (0, 1)]
    row_starts = torch.zeros(pixels + 1, dtype=index_dtype, device=device)
    row_starts[1:] = _in_row_order(landed[0] + landed[1] + landed[2] + landed[3], tile).cumsum(0, dtype=index_dtype)
    tile_entries: tuple[int, ...] = ()
    reach: tuple[tuple[int, int], ...] = ()
    if tile is None:
        entries = int(row_starts[-1])
    else:  # one read: where each tile's entries start, and how far each frame's sources reach
        tiles = pixels // (tile * tile)
        read = torch.cat([row_starts[:: tile * tile].long(), _reach(flow[:, 1], height).view(-1)]).tolist()
        tile_entries, reach = (
            tuple(read[: tiles + 1]),
            tuple(zip(read[tiles + 1 :: 2], read[tiles + 2 :: 2], strict=True)),
        )
        entries = tile_entries[-1]
    # Each target's next free slot, on the canvas; border cells share a spill area after the entries.
    slot = torch.full(canvas, entries, dtype=torch.int64, device=device)
    slot[inner] = _in_pixel_order(row_starts[:-1], (batch, height, width), tile)
    columns = torch.empty(entries + pixels, dtype=index_dtype, device=device)
    values = torch.empty(entries + pixels, dtype=precise, device=device)
    landed_weight = torch.zeros(cells, dtype=precise, device=device)
    source_index, keys = order.to(index_dtype), keys.long()
    for c, offset in enumerate(corner_offsets(canvas)):
        # In a row: corner by corner, each in source order (as a stable sort of all entries would give).
        target = keys + offset
        corner_weight = bilinear[c].index_select(0, order)
        spot = slot.view(-1).index_select(0, target) + rank
        columns.index_copy_(0, spot, source_index)  # duplicates only in the spill area
        values.index_copy_(0, spot, corner_weight)
        landed_weight.scatter_add_(0, target, corner_weight)
        slot[inner] += landed[c]
    matrix = _csr(row_starts, columns[:entries], values[:entries], (pixels, pixels))
    total = landed_weight.view(canvas)[inner].reshape(batch, 1, height, width)
    hole = (total == 0).to(precise)
    # In row order; a hole's 0 becomes 1, so holes come out 0.
    denominator = _in_row_order((total + hole).view(batch, height, width), tile).unsqueeze(1)
    return SplatPlan(
        matrix=matrix,
        denominator=denominator,
        weight=total,
        hole=hole,
        tile=tile,
        tile_entries=tile_entries,
        reach=reach,
    )


def _in_row_order(pixels: Tensor, tile: int | None) -> Tensor:
    """(B, H, W) per-pixel values as (B*H*W,) in the plan's row order: (b, y, x), or tile by tile."""
    if tile is None:
        return pixels.reshape(-1)
    batch, height, width = pixels.shape
    tiles = pixels.reshape(batch, height // tile, tile, width // tile, tile)
    return tiles.permute(0, 1, 3, 2, 4).reshape(-1)


def _in_pixel_order(rows: Tensor, size: tuple[int, int, int], tile: int | None) -> Tensor:
    """(B*H*W,) values in the plan's row order as (B, H, W) (the inverse of :func:`_in_row_order`)."""
    if tile is None:
        return rows.view(size)
    return _untile(rows.unsqueeze(1), size, tile).view(size)


def _reach(flow_y: Tensor, height: int) -> Tensor:
    """(B, 2) int: rows down and up that any source of each frame may land from its own row,
    ceil(max(F_y, 0)) and ceil(max(-F_y, 0)), at most ``height`` (a non-finite flow reaches the whole frame)."""
    flow_y = torch.nan_to_num(flow_y.flatten(1).float(), nan=height, posinf=height, neginf=-height)
    extent = torch.stack([flow_y.amax(1), -flow_y.amin(1)], dim=1)
    return extent.clamp(0, height).ceil().long()
