"""The learning service (being built)."""
