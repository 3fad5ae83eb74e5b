"""Anime or Cartoon? -- the appliance runtime.

This package imports with numpy and Pillow alone. Hardware libraries (picamera2, the
TFLite runtime, luma's buses, gpiozero) are imported lazily, only by adapter modules.
"""

__version__ = "0.1.0"
