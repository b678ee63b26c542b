"""Configs, outcomes and protocols shared by every backend."""
