"""Experiments over runs: the learning-rate finder and sweeps."""
