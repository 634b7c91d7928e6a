"""Measuring: quality metrics, evaluation sets, speed and FLOPs."""
