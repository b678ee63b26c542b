"""Background jobs: train, evaluate, score, generate and tokenizer runs."""
