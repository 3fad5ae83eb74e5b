"""Tests for aoc.opencv: OpenCV when installed, None when it cannot be imported."""

from __future__ import annotations

import sys

import pytest

from aoc.opencv import optional_cv2


def test_gives_cv2_when_installed():
    cv2 = pytest.importorskip("cv2")
    assert optional_cv2() is cv2


def test_gives_none_when_cv2_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    assert optional_cv2() is None


def test_the_device_resize_gives_the_same_pixels_without_cv2(monkeypatch):
    import numpy as np

    from aoc.inference.resize import DEVICE_RESAMPLE, resize_frame

    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    with_cv2 = resize_frame(frame, (224, 224), resample=DEVICE_RESAMPLE)  # cv2 if installed
    monkeypatch.setitem(sys.modules, "cv2", None)
    without = resize_frame(frame, (224, 224), resample=DEVICE_RESAMPLE)  # Pillow
    assert without.shape == with_cv2.shape == (224, 224, 3)
    assert np.abs(without.astype(int) - with_cv2.astype(int)).max() <= 2
