"""Training one run on several processes: the per-rank driver and the torchrun launcher."""
