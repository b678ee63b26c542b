"""Corpus scoring: records with metadata, length-sorted batches, Parquet tables, resume."""
