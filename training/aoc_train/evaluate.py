"""Evaluation on held-out images, through the device's own code path.

The int8 figures come from the written bundle opened with ``aoc.inference.bundle.load_bundle`` and
``aoc.inference.classifier.open_classifier(prefer="cpu")``: the same resize, quantization and
dequantization the appliance runs. The float figures run ``model_float.tflite`` on the same
preprocessed pixels. Robustness: the same images are also shown to the same classifier as a
simulated camera frame of a TV in a room (:mod:`.tvsim`, fixed seed per image).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import tvsim
from .data import ImageRecord, read_rgb
from .quality import predictions
from .views import image_rng

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scores:
    """Accuracy figures of one model on one set of images (a tied top score is a miss)."""

    accuracy: float
    per_class: dict[str, float]  # recall per true class
    per_source: dict[str, float]
    confusion: list[list[int]]  # rows: true class, columns: predicted; ties are in no column
    count: int
    ties: int = 0  # images whose top score was tied (counted as misses)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"accuracy": self.accuracy, "per_class": self.per_class,
                "per_source": self.per_source, "confusion": self.confusion, "count": self.count,
                "ties": self.ties}


def score(pred: np.ndarray, true: np.ndarray, sources: Sequence[str],
          classes: Sequence[str]) -> Scores:
    """Accuracy overall, per true class and per source, and the confusion matrix.

    ``pred`` comes from :func:`aoc_train.quality.predictions`: -1 marks a tied top score,
    which is a miss and is left out of the confusion matrix.
    """
    pred, true = np.asarray(pred, dtype=np.int64), np.asarray(true, dtype=np.int64)
    n = len(classes)
    conf = np.zeros((n, n), dtype=np.int64)
    decided = pred >= 0
    np.add.at(conf, (true[decided], pred[decided]), 1)
    hit = pred == true
    per_class = {c: float(hit[true == i].mean())
                 for i, c in enumerate(classes) if (true == i).any()}
    src = np.asarray(sources)
    per_source = {s: float(hit[src == s].mean()) for s in sorted(set(sources))}
    return Scores(float(hit.mean()) if len(hit) else float("nan"), per_class, per_source,
                  conf.tolist(), len(hit), int((~decided).sum()))


class FloatModel:
    """``model_float.tflite`` fed the device's preprocessed pixels as float32."""

    def __init__(self, path: Path, resize: str = "center_crop") -> None:
        from .export import make_interpreter

        self.interpreter = make_interpreter(path)
        d = self.interpreter.get_input_details()[0]
        self.index, self.side = d["index"], int(d["shape"][1])
        self.out = self.interpreter.get_output_details()[0]["index"]
        self.resize = resize

    def classify(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities of ``image`` (any size, fitted as training fits it)."""
        from aoc.inference.resize import resize_frame

        x = resize_frame(image, (self.side, self.side), self.resize, resample="lanczos")
        self.interpreter.set_tensor(self.index, x[None].astype(np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.out)[0].astype(np.float32)


def invoke_ms(classifier: Any, image: np.ndarray, runs: int = 50) -> float:
    """Median time of ``classifier.invoke()`` alone, in milliseconds, after a warm-up."""
    classifier.preprocess(image)
    for _ in range(5):
        classifier.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        classifier.invoke()
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(statistics.median(times))


def evaluate(
    bundle_dir: Path,
    float_model: Path,
    root: Path,
    records: Sequence[ImageRecord],
    classes: Sequence[str],
    *,
    seed: int = 1234,
    screen_strength: float = 1.0,
    progress: Callable[[int], Any] | None = None,
    probs_file: Path | None = None,
) -> dict[str, Any]:
    """Float, int8 and int8-under-screen-capture scores of ``records`` plus int8 invoke ms.

    A tied top score counts as a miss. ``probs_file``, when given, receives the held-out
    probabilities (``true`` class ids and one array per model: ``int8``, ``float``,
    ``int8_screen``, ``float_screen``) as an ``.npz``, for the quality gate.
    """
    from aoc.inference.bundle import load_bundle
    from aoc.inference.classifier import open_classifier

    bundle = load_bundle(bundle_dir)
    resize = bundle.input.resize if bundle.input is not None else "stretch"
    index = {c: i for i, c in enumerate(classes)}
    true = np.array([index[r.label] for r in records], dtype=np.int64)
    sources = [r.source for r in records]
    probs: dict[str, list[np.ndarray]] = {"float": [], "int8": [], "int8_screen": [],
                                          "float_screen": []}
    fmodel = FloatModel(float_model, resize)
    bar = progress(len(records)) if progress else None
    with open_classifier(bundle, prefer="cpu", num_threads=2) as clf:
        runtime = getattr(clf, "runtime_name", "")
        for r in records:
            image = np.asarray(read_rgb(root / r.file))
            screened = (tvsim.tv_view(image, image_rng(seed + 31, r.sha256, 0)).frame
                        if screen_strength > 0 else image)
            probs["int8"].append(np.asarray(clf.classify(image), np.float32))
            probs["int8_screen"].append(np.asarray(clf.classify(screened), np.float32))
            probs["float"].append(fmodel.classify(image))
            probs["float_screen"].append(fmodel.classify(screened))
            if bar is not None:
                bar.update(1)
        probe = np.asarray(read_rgb(root / records[0].file)) if records else np.zeros(
            (bundle.input.height, bundle.input.width, 3), np.uint8)
        ms = invoke_ms(clf, probe)
    if bar is not None:
        bar.close()
    arrays = {name: np.asarray(v, np.float32).reshape(len(records), len(classes))
              for name, v in probs.items()}
    if probs_file is not None:
        np.savez(probs_file, true=true, **arrays)
    preds = {name: predictions(a) for name, a in arrays.items()}
    result: dict[str, Any] = {name: score(p, true, sources, classes).to_dict()
                              for name, p in preds.items()}
    result["int8_invoke_ms"] = ms
    result["runtime"] = runtime
    # a tie (-1) agrees only with a tie
    result["agreement_int8_float"] = (float(np.mean(preds["int8"] == preds["float"]))
                                      if len(true) else float("nan"))
    result["robustness_drop"] = result["int8"]["accuracy"] - result["int8_screen"]["accuracy"]
    result["int8_vs_float"] = result["int8"]["accuracy"] - result["float"]["accuracy"]
    return result
