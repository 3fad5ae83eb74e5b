"""Time the classifier's stages on this machine (a developer's tool, not a test).

    PYTHONPATH=device python3 tests/data/models/measure_timings.py BUNDLE_DIR [...]
    PYTHONPATH=device python3 tests/data/models/measure_timings.py --bare M.tflite L.txt

For each model: median and 95th percentile of preprocess (a model-size frame, the fast
path; and a 640x480 frame, which is resized), invoke and postprocess, in milliseconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from aoc.inference.bundle import bare_bundle, load_bundle
from aoc.inference.classifier import open_classifier


def _time(fn, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(samples)), float(np.percentile(samples, 95))


def measure(bundle, *, repeat: int, resample: str, threads: int | None) -> None:
    with open_classifier(bundle, prefer="cpu", resample=resample, num_threads=threads) as clf:
        width, height = clf.input_size
        rng = np.random.default_rng(0)
        small = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        big = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        clf.classify(small)  # warm up
        rows = {
            f"preprocess {width}x{height} frame ({clf._pre.mode})": _time(
                lambda: clf.preprocess(small), repeat
            ),
            f"preprocess 640x480 frame ({resample})": _time(lambda: clf.preprocess(big), repeat),
            "invoke": _time(clf.invoke, repeat),
            "postprocess": _time(clf.postprocess, repeat),
        }
        print(f"{clf.model_path} ({clf.runtime_name}, threads={threads}):")  # noqa: T201
        for name, (median, p95) in rows.items():
            print(f"  {name:40s} median {median:8.3f} ms   p95 {p95:8.3f} ms")  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="*", type=Path)
    parser.add_argument("--bare", nargs=2, type=Path, action="append", default=[])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--resample", default="lanczos")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    bundles = [load_bundle(b) for b in args.bundles]
    bundles += [bare_bundle(model, labels) for model, labels in args.bare]
    for bundle in bundles:
        measure(bundle, repeat=args.repeat, resample=args.resample, threads=args.threads)


if __name__ == "__main__":
    main()
