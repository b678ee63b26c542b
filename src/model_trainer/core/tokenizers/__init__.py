"""Character and byte-level BPE tokenizers behind ``TokenizerHandle``."""
