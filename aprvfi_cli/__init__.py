"""aprvfi: video frame interpolation with the APR-VFI dynamic network."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aprvfi_cli.runtime import choose_openmp_wait_policy

# Before torch loads OpenMP (it reads the policy once): reaches the CLI and load_model() alike.
choose_openmp_wait_policy()

__version__ = "0.1.0"
__all__ = ["Interpolator", "__version__", "load_model"]

if TYPE_CHECKING:
    from aprvfi_cli.engine.interpolator import Interpolator, load_model


def __getattr__(name: str) -> Any:
    # torch loads only when the API is used, so `aprvfi --version` and `info` start fast
    if name in ("Interpolator", "load_model"):
        from aprvfi_cli.engine import interpolator

        return getattr(interpolator, name)
    raise AttributeError(f"module 'aprvfi_cli' has no attribute {name!r}")
