"""Data: corpus sources, the split into training and validation, and the token cache."""
