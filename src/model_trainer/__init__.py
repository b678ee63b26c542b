"""model-trainer: train, score and sample small language models from a notebook."""
