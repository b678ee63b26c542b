"""Scoring and sampling on any prepared model: windows, surprisal, sampling, decoding loops."""
