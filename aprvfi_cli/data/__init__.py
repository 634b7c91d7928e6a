"""Training and evaluation material: clip decoding, triplet planning, the prepared cache and store.

Both ``train/`` and ``eval/`` import from here; nothing here imports them.
"""
