"""Host-side training for Anime or Cartoon?: data, augmentation, fit, export, evaluate, bundle.

Only this package imports TensorFlow, and only inside the functions that need it, so
``aoc-train --help`` and the data/augmentation helpers stay light.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
