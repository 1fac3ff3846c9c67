"""The panel service (being built)."""
