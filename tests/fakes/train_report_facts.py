"""The facts a Keras-path build hands its report and model card, for their tests."""

from __future__ import annotations

CLASSES = ["anime", "cartoon", "neither"]


def scores(acc: float) -> dict:
    return {"accuracy": acc, "per_class": dict.fromkeys(CLASSES, acc),
            "per_source": {"s_anime": acc, "s_cartoon": acc}, "confusion": [[3, 0, 0],
                                                                           [0, 3, 0], [0, 1, 2]],
            "count": 9}


def facts() -> dict:
    """A small build's facts: three classes, two sources, one held out."""
    ev = {"float": scores(0.95), "int8": scores(0.94), "int8_screen": scores(0.91),
          "float_screen": scores(0.9), "int8_invoke_ms": 1.25, "runtime": "litert",
          "agreement_int8_float": 0.99, "robustness_drop": 0.03, "int8_vs_float": -0.01}
    cfg = {"data_dir": "/data", "class_test_fraction": 0.2, "val_fraction": 0.1, "seed": 1,
           "alpha": 0.35, "side": 224, "weights": "w.h5", "dropout": 0.2, "views": 4,
           "source_power": 0.5, "calibration": 300, "work_dir": ".cache/x",
           "fit": {"top_tune_from": "Conv_1", "top_tune_epochs": 5, "top_tune_lr": 3e-4,
                   "label_smoothing": 0.1}}
    split = {"holdout_sources": ["s_cartoon"], "duplicates": [
        {"kept": "a", "dropped": "b", "kind": "near", "distance": 3}]}
    return {"name": "toy", "created": "now", "command": "aoc-train build d --out m",
            "evaluation": ev, "split": split, "config": cfg, "classes": CLASSES,
            "fit": {"val_acc": 0.97}, "export": {"input_scale": 1.0, "input_zero_point": 0,
                                                  "int8_kb": 600.0},
            "stages": [{"stage": "fit", "skipped": False, "seconds": 120.0}],
            "skipped": [{"file": "anime/bad.jpg", "reason": "truncated"}], "num_images": 20,
            "source_split": {"s_anime": {"label": "anime", "train": 5, "val": 1, "test": 2},
                             "s_cartoon": {"label": "cartoon", "train": 0, "val": 0,
                                           "test": 9}},
            "source_labels": {"s_anime": "anime", "s_cartoon": "cartoon"},
            "wall_seconds": 600.0, "edgetpu_text": "not compiled"}
