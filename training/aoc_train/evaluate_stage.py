"""The evaluate stage of a fine-tuned build, and the quality gate that follows it.

The int8 model is scored through the device's own loader and classifier, on the held-out
test images clean and screen-captured. Its probabilities are saved so that the gate
(:mod:`aoc_train.quality`) also runs when the stage is cached: a degenerate model never
reaches ``--out``.
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DegenerateModelError, TrainError
from .quality import FIX_FINE_TUNED, FIX_PRETRAINED, QualityCheck, require_quality

if TYPE_CHECKING:
    from .pipeline import Pipeline

EVAL_VERSION = 2  # 2: a tied top score is a miss, and the gate reads EVAL_PROBS


def evaluate_key(p: Pipeline) -> str:
    """The stamp key: the exported and compiled models, the seed and the screen strength."""
    # EVAL_VERSION: scores of earlier versions counted tied top scores as hits
    return (p.stamp_key("export") + p.stamp_key("compile")
            + p.config.key("seed", "screen_strength") + f"-e{EVAL_VERSION}")


def run_evaluate(p: Pipeline) -> dict[str, Any]:
    """Score the int8 model; writes ``eval.json`` and the held-out probabilities.

    The bundle is first written to ``work/bundle`` (a staging copy that the device's
    loader opens), never to ``--out``: the report stage writes ``--out`` only after
    :func:`check_quality` passed, so a degenerate model leaves an old bundle there intact.
    """
    from .bundle_stages import write
    from .evaluate import evaluate
    from .pipeline import EVAL_PROBS

    c = p.config
    staged = p.work / "bundle"
    if staged.exists():
        shutil.rmtree(staged)
    write(p, metrics={}, extra_files={}, out=staged)
    ev = evaluate(staged, p.work / "export" / "model_float.tflite", c.data_dir,
                  p.records("test"), p.dataset.classes, seed=c.seed,
                  screen_strength=c.screen_strength,
                  progress=lambda n: p.bar(n, "evaluate"), probs_file=p.work / EVAL_PROBS)
    (p.work / "eval.json").write_text(json.dumps(ev, indent=1))
    return {"float_acc": ev["float"]["accuracy"], "int8_acc": ev["int8"]["accuracy"],
            "screen_acc": ev["int8_screen"]["accuracy"], "invoke_ms": ev["int8_invoke_ms"],
            "test_images": ev["int8"]["count"], "int8_ties": ev["int8"]["ties"]}


def check_quality(p: Pipeline) -> QualityCheck:
    """The quality gate: the int8 model's held-out (test) probabilities saved by the
    evaluate stage must not be degenerate (see :mod:`aoc_train.quality`).

    Raises DegenerateModelError, saying that no bundle was written to ``--out``, and why a
    build from random initialisation cannot learn.
    """
    from .pipeline import EVAL_PROBS

    path = p.work / EVAL_PROBS
    if not path.is_file():
        raise TrainError(f"no held-out probabilities at {path}; run 'aoc-train evaluate' "
                         "(or build) so the model can be checked before it is bundled")
    with np.load(path) as saved:
        probs, true = saved["int8"], saved["true"]
    where = (f"int8 model on the {len(true)} held-out test images (no bundle written to "
             f"{p.config.out})")
    # with --weights given, "start from pretrained weights" is no advice
    fix = FIX_PRETRAINED if p.config.weights else FIX_FINE_TUNED
    try:
        return require_quality(probs, true, p.dataset.classes, where=where, fix=fix)
    except DegenerateModelError as exc:
        if p.config.weights:
            raise
        raise DegenerateModelError(
            f"{exc}\nThis build started from random initialisation (no --weights): "
            "activations vanish through the untrained MobileNetV2 layers, so the frozen "
            "backbone's features hardly differ between pictures and nothing can be learnt "
            "from them. Pass --weights with the no-top MobileNetV2 .weights.h5 matching "
            "--alpha, or --weights imagenet when online.", check=exc.check) from None
