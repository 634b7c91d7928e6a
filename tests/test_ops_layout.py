"""Concatenation into a memory layout: the values of torch.cat, the layout asked for."""

from __future__ import annotations

import pytest
import torch

from aprvfi_cli.ops.layout import cat_channels


@pytest.mark.parametrize("channels_last", [True, False])
def test_cat_channels_is_cat_in_the_layout_asked(channels_last: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    parts = [
        torch.rand(2, 3, 5, 7, generator=generator).contiguous(memory_format=torch.channels_last),
        torch.rand(2, 2, 5, 7, generator=generator),  # mixed layouts: plain cat comes out contiguous
        torch.rand(2, 1, 5, 7, generator=generator, dtype=torch.float64),
    ]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    out = cat_channels(parts, channels_last=channels_last)
    assert torch.equal(out, torch.cat(parts, dim=1)) and out.dtype == torch.float64
    assert out.is_contiguous(memory_format=layout)
    # Under autograd the gradient reaches every part.
    tracked = [part.detach().requires_grad_(True) for part in parts]
    out = cat_channels(tracked, channels_last=channels_last)
    assert out.is_contiguous(memory_format=layout)
    out.sum().backward()
    assert all(torch.equal(part.grad, torch.ones_like(part)) for part in tracked)


def test_a_convolved_cat_is_written_in_the_autocast_dtype() -> None:
    parts = [torch.rand(1, 3, 4, 6), torch.rand(1, 2, 4, 6)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = cat_channels(parts, channels_last=True, convolved=True)
        plain = cat_channels(parts, channels_last=True)
    assert out.dtype == torch.bfloat16 and plain.dtype == torch.float32
    assert torch.equal(out, torch.cat(parts, dim=1).bfloat16())  # what the convolution would have cast it to
    assert cat_channels(parts, channels_last=True, convolved=True).dtype == torch.float32  # no autocast
