"""The recommendations service: SMART recommendations, per-addressee action tracking, a national library."""
