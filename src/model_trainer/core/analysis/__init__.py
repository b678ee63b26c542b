"""Corpus scoring: batches, Parquet tables, resume, slicing helpers."""
