"""Measurement: ``aoc bench`` (our loop against the naive Coral-examples loop) and its figures."""
