"""Training: data preparation, synthetic and clip triplets, losses, the 3-stage curriculum (DESIGN §4)."""
