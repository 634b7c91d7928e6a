"""Low-level differentiable operators: forward splatting, local correlation, padding."""

from aprvfi_cli.ops.correlation import local_correlation
from aprvfi_cli.ops.padding import pad_to_multiple
from aprvfi_cli.ops.splat import SplatResult, forward_splat

__all__ = ["SplatResult", "forward_splat", "local_correlation", "pad_to_multiple"]
