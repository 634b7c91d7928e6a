"""aprvfi: video frame interpolation with the APR-VFI dynamic network."""

__version__ = "0.1.0"
