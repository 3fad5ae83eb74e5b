"""Explanation maps (RISE) of what made the model say what it said: maps, placement,
PNGs, ``aoc explain``.
"""
