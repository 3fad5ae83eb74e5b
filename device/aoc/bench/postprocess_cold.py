"""What the postprocess stage costs right after a real invoke (``python -m
aoc.bench.postprocess_cold``).

On the CPU an invoke pushes the head's and the smoother's code and data out of the caches,
so the same calls cost several times what they cost warm. After every real invoke of the
bundle's model on random model-size frames this measures:

* ``read``: the output read with ``get_tensor`` (a copy) against a ``tensor()`` view, each
  followed by the bundle's head, alternating in rounds so that a changing machine load hits
  both (the A/B behind ``Classifier.postprocess`` reading through a view);
* ``parts``: where the stage goes for a ``compiled backbone + head`` bundle: the view, the
  head's table lookup, its dot product, the softmax in plain floats, and the smoothing.

Medians and 95th percentiles in microseconds; ``--json FILE`` also writes them. The figures
in ``device/docs/performance.md`` ("Kept: the output read through a tensor view") come from
this command.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from aoc.bench.loops import summarize_ms

PARTS = ("view", "table", "dot", "softmax", "smoothing", "total")


def _us(seconds: list[float]) -> dict[str, float]:
    ms = summarize_ms(np.asarray(seconds))
    return {k: round(1000 * v, 1) for k, v in ms.items()}


def measure(clf: Any, *, frames: int = 150, rounds: int = 16,
            seed: int = 0) -> dict[str, Any]:
    """The A/B of the two reads and the parts of the stage, ``rounds`` x ``frames`` invokes
    each. ``clf`` is an open :class:`~aoc.inference.classifier.Classifier` whose bundle has
    a quantized head (its private interpreter and head are read: this is its bench)."""
    from aoc.app.smoothing import Smoother

    head = clf._head_fast
    if head is None or head._deeper:
        raise ValueError("postprocess_cold needs a bundle with a one-layer quantized head "
                         "(kind 'compiled backbone + head'), such as models/default")
    interpreter, index = clf._interpreter, clf._output_index
    view = interpreter.tensor(index)
    rng = np.random.default_rng(seed)
    size = (clf.input_size[1], clf.input_size[0], 3)
    inputs = [rng.integers(0, 256, size, dtype=np.uint8) for _ in range(8)]
    reads = {"get_tensor": lambda: head(interpreter.get_tensor(index)),
             "view": lambda: head(view())}
    read_s: dict[str, list[float]] = {name: [] for name in reads}
    parts_s: dict[str, list[float]] = {name: [] for name in PARTS}
    smoother = Smoother(clf.labels)
    clock = time.perf_counter
    n = 0
    for r in range(rounds):
        order = list(reads) if r % 2 == 0 else list(reversed(reads))
        for name in (*order, "parts"):
            for _ in range(frames):
                clf.preprocess(inputs[n % len(inputs)])
                clf.invoke()
                n += 1
                t0 = clock()
                if name != "parts":
                    reads[name]()
                    read_s[name].append(clock() - t0)
                    continue
                raw = view()
                t1 = clock()
                x = head._table.take(raw.reshape(-1))
                t2 = clock()
                y = head._w0t.dot(x)
                t3 = clock()
                logits = [v + b for v, b in zip(y.tolist(), head._b0_list, strict=True)]
                top = max(logits)
                e = [math.exp(v - top) for v in logits]
                total = sum(e)
                probs = np.array([v / total for v in e], np.float32)
                t4 = clock()
                smoother.update(probs, n / 30.0)
                t5 = clock()
                del raw  # LiteRT refuses the next invoke while a view of its buffer lives
                for part, dt in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4,
                                            t5 - t0), strict=True):
                    parts_s[part].append(dt)
    return {"frames_each": rounds * frames, "backend": clf.backend,
            "read_us": {k: _us(v) for k, v in read_s.items()},
            "parts_us": {k: _us(v) for k, v in parts_s.items()}}


def format_result(result: dict[str, Any]) -> str:
    """The figures as text."""
    lines = [f"after each of {result['frames_each']} real invokes ({result['backend']}), us:"]
    for group in ("read_us", "parts_us"):
        for name, v in result[group].items():
            lines.append(f"  {group[:-3]:<5} {name:<10} median {v['median']:7.1f}"
                         f"  p95 {v['p95']:7.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aoc.bench.postprocess_cold``; returns the exit code."""
    from aoc.inference.bundle import load_bundle
    from aoc.inference.classifier import open_classifier

    p = argparse.ArgumentParser(prog="python -m aoc.bench.postprocess_cold",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default="models/default", help="bundle (default models/default)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--frames", type=int, default=150, help="invokes per arm per round")
    p.add_argument("--rounds", type=int, default=16, help="alternating rounds (default 16)")
    p.add_argument("--json", type=str, help="also write the figures here")
    args = p.parse_args(argv)
    with open_classifier(load_bundle(args.bundle), prefer="cpu",
                         num_threads=args.threads) as clf:
        try:
            result = measure(clf, frames=args.frames, rounds=args.rounds)
        except ValueError as exc:
            sys.stderr.write(f"aoc.bench.postprocess_cold: {exc}\n")
            return 2
    sys.stdout.write(format_result(result) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
