"""The build pipeline as resumable stages over a work folder (see :mod:`aoc_train.stamps`):
scan, split and views of the data, then fit, export, check, compile and evaluate."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import BuildConfig
from .data import Dataset, ImageRecord, scan_dataset
from .quality import QualityCheck
from .split import Split, balanced_weights, make_split
from .stamps import StageResult, run_stage, stamp_path

if TYPE_CHECKING:  # the Keras side is imported only when training runs
    from .model import ModelSpec

log = logging.getLogger(__name__)

EVAL_PROBS = "eval_probs.npz"  # held-out probabilities of every model, for the quality gate


def _progress_factory(enabled: bool) -> Callable[..., Any]:
    def make(total: int, desc: str = ""):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="img")
    return make


class Pipeline:
    """The stages of a build over one work folder; each method returns a StageResult."""

    def __init__(self, config: BuildConfig, *, progress: bool = True,
                 on_result: Callable[[StageResult], None] | None = None) -> None:
        self.config = config
        self.work = Path(config.work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.bar = _progress_factory(progress)
        self.on_result = on_result or (lambda r: None)
        self.results: list[StageResult] = []
        self.messages: list[str] = []  # multi-line texts for the CLI (e.g. the op table)
        self._dataset: Dataset | None = None
        self._split: Split | None = None
        self._model = None

    # -- stamps -------------------------------------------------------------------------
    def run(self, stage: str, key: str, outputs: list[Path], fn: Callable[[], dict]) -> StageResult:
        """Run ``fn`` unless the stamp for ``stage`` has ``key`` and ``outputs`` exist."""
        result = run_stage(self.work, stage, key, outputs, fn)
        self._emit(result)
        return result

    def _emit(self, result: StageResult) -> None:
        self.results.append(result)
        self.on_result(result)

    # -- data ---------------------------------------------------------------------------
    @property
    def dataset(self) -> Dataset:
        """The scanned data folder (scanned on first use)."""
        if self._dataset is None:
            self.scan()
        assert self._dataset is not None  # noqa: S101 - set by scan()
        return self._dataset

    def scan(self) -> StageResult:
        """Scan the data folder (hashes cached by file size and mtime)."""
        c = self.config
        t0 = time.monotonic()
        def progress(it):
            from tqdm import tqdm

            return tqdm(it, desc="scan", disable=not self.progress, leave=False, unit="file")
        ds = scan_dataset(c.data_dir, classes=c.classes or None,
                          cache_file=self.work / "scan-cache.json", progress=progress)
        if c.max_images:
            ds = _subsample(ds, c.max_images, c.seed)
        self._dataset = ds
        (self.work / "skipped.json").write_text(json.dumps(
            [{"file": s.file, "reason": s.reason} for s in ds.skipped], indent=1))
        result = StageResult("scan", False, time.monotonic() - t0, {
            "images": len(ds.records), "classes": list(ds.classes), "skipped": len(ds.skipped),
            "sources": len({r.source for r in ds.records}), "fingerprint": ds.fingerprint()})
        self._emit(result)
        return result

    @property
    def split(self) -> Split:
        """The train/validation/test split (made on first use)."""
        if self._split is None:
            self.make_split()
        assert self._split is not None  # noqa: S101 - set by make_split()
        return self._split

    def make_split(self) -> StageResult:
        """Deterministic source-aware split; written to split.json with its duplicates."""
        c = self.config
        t0 = time.monotonic()
        sp = make_split(self.dataset, holdout_sources=c.holdout_sources,
                        val_fraction=c.val_fraction, class_test_fraction=c.class_test_fraction,
                        seed=c.seed)
        self._split = sp
        recs = self.dataset.records
        (self.work / "split.json").write_text(json.dumps({
            "holdout_sources": list(sp.holdout_sources),
            "counts": {n: len(sp.indices(n)) for n in ("train", "val", "test")},
            "files": {n: [recs[i].file for i in sp.indices(n)] for n in ("train", "val", "test")},
            "duplicates": [d.__dict__ for d in sp.duplicates]}, indent=0))
        result = StageResult("split", False, time.monotonic() - t0, {
            "train": len(sp.train), "val": len(sp.val), "test": len(sp.test),
            "holdout_sources": list(sp.holdout_sources),
            "cross_split_duplicates": len(sp.duplicates)})
        self._emit(result)
        return result

    def records(self, name: str) -> list[ImageRecord]:
        """Records of one split."""
        return [self.dataset.records[i] for i in self.split.indices(name)]

    def labels(self, name: str) -> np.ndarray:
        """Class ids of one split."""
        ids = self.dataset.label_ids()
        return ids[list(self.split.indices(name))]

    def views(self, name: str, mode: str) -> np.ndarray:
        """Cached views of a split (see views.build_views)."""
        from .views import build_views

        c = self.config
        recs = self.records(name)
        bar = self.bar
        return build_views(c.data_dir, recs, mode=mode, side=c.side, cache_dir=self.work / "views",
                           k=c.views, seed=c.seed, screen_strength=c.screen_strength,
                           workers=c.workers,
                           progress=lambda _it, n: bar(n, f"{mode} views {name}"))

    # -- training -----------------------------------------------------------------------
    def model_spec(self) -> ModelSpec:
        """The Keras model's shape from the build's config and the data's classes."""
        from .model import ModelSpec

        c = self.config
        return ModelSpec(side=c.side, alpha=c.alpha, num_classes=len(self.dataset.classes),
                         dropout=c.dropout, weights=c.weights)

    def data_key(self) -> str:
        """Cache key of the data and of the settings that decide the split."""
        return self.dataset.fingerprint() + self.config.key(
            "holdout_sources", "val_fraction", "class_test_fraction", "seed", "max_images")

    def fit(self) -> StageResult:
        """Augmented views, cached features, head training, top-tune -> model.weights.h5."""
        from .train_stages import run_fit
        from .views import AUGMENT_VERSION

        c = self.config
        key = self.data_key() + c.key("side", "alpha", "dropout", "weights", "views",
                                      "screen_strength", "source_power", "fit")
        key += f"-a{AUGMENT_VERSION}"
        out = self.work / "model.weights.h5"

        def body() -> dict:
            summary, self._model = run_fit(self, out)
            return summary

        return self.run("fit", key, [out], body)

    def load_model(self) -> Any:
        """The trained Keras model from the work folder."""
        if self._model is None:
            from dataclasses import replace

            from .model import build_model

            path = self.work / "model.weights.h5"
            if not path.is_file():
                from .errors import TrainError

                raise TrainError(f"no trained weights at {path}; run 'aoc-train fit' first")
            model = build_model(replace(self.model_spec(), weights=None))
            model.load_weights(path)
            self._model = model
        return self._model

    def export(self) -> StageResult:
        """model.tflite (int8, uint8 I/O) and model_float.tflite under export/."""
        from .train_stages import calibration_images, run_export

        # keyed by the weights' content too, so a re-fit always means a re-export
        weights = self.work / "model.weights.h5"
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12] if weights.is_file() else ""
        key = self.stamp_key("fit") + digest + self.config.key("calibration")
        out = self.work / "export"
        c = self.config

        def body() -> dict:
            calibration = calibration_images(self.records("train"), self.views("train", "clean"),
                                             seed=c.seed, count=c.calibration)
            return run_export(self.load_model(), out, calibration)

        return self.run("export", key, [out / "model.tflite", out / "model_float.tflite"], body)

    def check(self) -> StageResult:
        """Edge TPU operator check of the int8 model (fails when an op would run on CPU)."""
        from .bundle_stages import run_check

        model = self.work / "export" / "model.tflite"
        table = self.work / "edgetpu_check.txt"
        return self.run("check", self.stamp_key("export"), [table],
                        lambda: run_check(model, table, say=self.messages.append))

    def compile(self) -> StageResult:
        """edgetpu_compiler when on PATH, else a CPU-only note for the manifest."""
        import shutil

        from .bundle_stages import run_compile

        key = self.stamp_key("export") + str(shutil.which("edgetpu_compiler"))
        out = self.work / "edgetpu"
        return self.run("compile", key, [out / "compile.json"],
                        lambda: run_compile(self.work / "export" / "model.tflite", out))

    def evaluate(self) -> StageResult:
        """Score the int8 model through the device's code path, then the quality gate
        (see :func:`aoc_train.evaluate_stage.run_evaluate`; the gate also runs when this
        stage is cached)."""
        from .evaluate_stage import evaluate_key, run_evaluate

        result = self.run("evaluate", evaluate_key(self),
                          [self.work / "eval.json", self.work / EVAL_PROBS],
                          lambda: run_evaluate(self))
        self.require_quality()
        return result

    def require_quality(self) -> QualityCheck:
        """The quality gate on the held-out probabilities the evaluate stage saved (see
        :func:`aoc_train.evaluate_stage.check_quality`)."""
        from .evaluate_stage import check_quality

        return check_quality(self)

    def report(self, *, command: str = "aoc-train build", wall_seconds: float = 0.0,
               notes: str = "") -> StageResult:
        """Figures, report.md and model_card.md; rewrites the bundle with its metrics."""
        from .report_stage import run_report

        t0 = time.monotonic()
        summary = run_report(self, command=command, wall_seconds=wall_seconds, notes=notes)
        result = StageResult("report", False, time.monotonic() - t0, summary)
        self._emit(result)
        return result

    def stamp_key(self, stage: str) -> str:
        """The key a stage's stamp holds ("" before it ran): later stages key on it."""
        stamp = stamp_path(self.work, stage)
        return json.loads(stamp.read_text()).get("key", "") if stamp.is_file() else ""

    def class_weights(self, name: str) -> np.ndarray:
        """Balanced per-sample weights of one split."""
        return balanced_weights(self.dataset.records, self.split.indices(name),
                                self.dataset.classes, source_power=self.config.source_power)


def _subsample(ds: Dataset, n: int, seed: int) -> Dataset:
    from .split import unit_hash

    ranked = sorted(ds.records, key=lambda r: unit_hash(seed + 99, r.sha256))[:n]
    keep = sorted(ranked, key=lambda r: r.file)
    return Dataset(ds.root, ds.classes, tuple(keep), ds.skipped)
