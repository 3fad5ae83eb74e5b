"""Shipped but outside the product path: the soak benchmark (``python -m aoc.testing.soak``)
and fault injection.
"""
