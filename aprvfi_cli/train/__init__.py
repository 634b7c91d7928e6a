"""Training: synthetic triplets, losses, the training store's batches and the 3-stage curriculum."""
