"""The shared training loop, datasets, corpora, checkpoints and manifests."""
