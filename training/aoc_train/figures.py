"""Report figures as PNG files (matplotlib, Agg backend): confusion matrices, training
curves, and a grid of augmented samples made from synthetic pictures only (the training
images' licences forbid shipping even thumbnails of them)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from . import augment


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_png(matrices: dict[str, list[list[int]]], classes: Sequence[str], path: Path) -> Path:
    """Side-by-side confusion matrices (rows: true, columns: predicted), one per title."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.6 * len(matrices), 3.4), squeeze=False)
    for ax, (title, m) in zip(axes[0], matrices.items(), strict=True):
        arr = np.asarray(m, dtype=np.float64)
        norm = arr / np.maximum(arr.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for i in range(arr.shape[0]):
            for j in range(arr.shape[1]):
                ax.text(j, i, f"{int(arr[i, j])}", ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black", fontsize=9)
        ax.set_xticks(range(len(classes)), classes, fontsize=8)
        ax.set_yticks(range(len(classes)), classes, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def curves_png(history: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """Loss and accuracy per epoch for the head and top-tune phases."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    offset = 0
    for phase, hist in history.items():
        if not isinstance(hist, dict) or "loss" not in hist:  # a phase that did not run
            continue
        epochs = np.arange(1, len(hist["loss"]) + 1) + offset
        for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
            if metric in hist:
                ax.plot(epochs, hist[metric], label=f"{phase} train")
            if f"val_{metric}" in hist:
                ax.plot(epochs, hist[f"val_{metric}"], "--", label=f"{phase} val")
        offset += len(hist["loss"])
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def synthetic_picture(rng: np.random.Generator, side: int = 224) -> np.ndarray:
    """A made-up flat-shaded scene (sky, ground, sun, a round face with big eyes), drawn
    here, so that the augmentation grid ships no third-party pixels."""
    sky = tuple(int(v) for v in rng.integers(90, 230, size=3))
    ground = tuple(int(v) for v in rng.integers(30, 180, size=3))
    img = Image.new("RGB", (side, side), sky)
    d = ImageDraw.Draw(img)
    d.rectangle([0, side * 0.65, side, side], fill=ground)
    cx, cy, r = side * rng.uniform(0.35, 0.65), side * 0.45, side * rng.uniform(0.18, 0.26)
    d.ellipse([side * 0.75, side * 0.04, side * 0.95, side * 0.2], fill=(255, 220, 90))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(250, 214, 180), outline=(40, 30, 30), width=3)
    for ex in (cx - r * 0.4, cx + r * 0.4):
        d.ellipse([ex - r * 0.18, cy - r * 0.25, ex + r * 0.18, cy + r * 0.2], fill=(255, 255, 255),
                  outline=(20, 20, 20), width=2)
        d.ellipse([ex - r * 0.1, cy - r * 0.12, ex + r * 0.1, cy + r * 0.15], fill=(60, 90, 200))
    d.arc([cx - r * 0.35, cy + r * 0.2, cx + r * 0.35, cy + r * 0.6], 20, 160, fill=(150, 40, 40),
          width=3)
    for k in range(12):  # stripes give moire and blur something to act on
        x = k * side / 12
        d.line([x, side * 0.7, x + side * 0.05, side], fill=(20, 20, 20), width=2)
    return np.asarray(img)


def augmentation_grid_png(path: Path, *, side: int = 128, rows: int = 3, cols: int = 6,
                          seed: int = 0, screen_strength: float = 1.0) -> Path:
    """Each row: one synthetic picture, then augmented training views of it."""
    rng = np.random.default_rng(seed)
    tiles = []
    for _ in range(rows):
        base = synthetic_picture(rng, side)
        row = [base] + [augment.training_view(base, rng, side, screen_strength=screen_strength)
                        for _ in range(cols - 1)]
        tiles.append(np.concatenate(row, axis=1))
    Image.fromarray(np.concatenate(tiles, axis=0)).save(path)
    return path
