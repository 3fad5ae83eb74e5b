"""Experiment: does fine-tuning the backbone's last layers help on unseen sources?

Not part of ``aoc-train``; kept so that the figures in ``aoc_train/notes/default_model.md``
("Partial fine-tuning") can be re-run. For each leave-source-out fold (as ``aoc-train
crossval``) it fits the build's head on the cached pooled features, then fine-tunes the
backbone from ``--from`` (default ``Conv_1``, the final 1x1 convolution) together with that
head, on cached activations of ``block_15_add`` (the frozen layers below are exact to cache;
BatchNorm stays in inference mode). It prints the held-out accuracy of the head alone and
after fine-tuning, per fold, and writes them to ``--json``.

Run ``aoc-train crossval`` with the same settings first (it caches the views and features),
then, from the project root::

    PYTHONPATH=device:training python3 training/experiments/top_tune_crossval.py \\
        /work/shared/data/aoc-train --work-dir .cache/aoc-train/crossval \\
        --weights /work/shared/weights/mobilenet_v2_035_224_imagenet_no_top.weights.h5 \\
        --folds "pranav_anime;ao7108_character_art;visuallayer_tomjerry_frames" --head-seed 7

The activations of all 9,111 images x 6 views take about 10 min and 1.7 GB (float16) once;
each fold then takes about a minute on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

CUT = "block_15_add"
log = logging.getLogger("top_tune_crossval")


def _activations(p, lower) -> tuple[np.ndarray, np.ndarray]:
    """``CUT`` activations of every image's augmented views and clean view (float16)."""
    from aoc_train.views import build_views

    c = p.config
    path = p.work / f"activations-{CUT}-{p.dataset.fingerprint()}-v{c.views}-s{c.seed}.npz"
    if path.is_file():
        z = np.load(path)
        return z["augmented"], z["clean"]
    common = dict(side=c.side, cache_dir=p.work / "views", seed=c.seed,
                  screen_strength=c.screen_strength, workers=c.workers)
    recs = list(p.dataset.records)

    def run(images: np.ndarray) -> np.ndarray:
        flat = images.reshape((-1,) + images.shape[-3:])
        out = np.empty((len(flat),) + tuple(lower.output_shape[1:]), np.float16)
        for s in range(0, len(flat), 128):
            # the model's own Rescaling: pixels to [-1, 1]
            out[s:s + 128] = lower(np.asarray(flat[s:s + 128], np.float32) / 127.5 - 1.0,
                                   training=False).numpy()
        return out.reshape(images.shape[:-3] + out.shape[1:])

    clean = run(build_views(c.data_dir, recs, mode="clean", **common))
    augmented = run(build_views(c.data_dir, recs, mode="augmented", k=c.views, **common))
    np.savez(path, augmented=augmented, clean=clean)
    return augmented, clean


def main() -> None:
    from aoc_train import crossval as cv
    from aoc_train.cli import _config, build_parser

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--folds", default="")
    ap.add_argument("--from", dest="first", default="Conv_1",
                    help="first backbone layer to train (Conv_1 or block_16_expand)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--head-seed", type=int, default=1234)
    ap.add_argument("--json", type=Path, default=Path("top_tune_crossval.json"))
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import keras

    from aoc_train.fit import train_head
    from aoc_train.pipeline import Pipeline
    from aoc_train.split import balanced_weights

    cfg = _config(build_parser().parse_args(
        ["crossval", a.data_dir, "--out", "unused", "--work-dir", a.work_dir, "--weights",
         a.weights, "--views", str(a.views)]))
    # the head's seed only: the views and features stay those of the cached seed
    cfg = replace(cfg, fit=replace(cfg.fit, seed=a.head_seed))
    p = Pipeline(cfg, progress=False)
    p.scan()
    recs, classes = list(p.dataset.records), list(p.dataset.classes)
    labels = p.dataset.label_ids()
    f_aug, f_clean = cv.all_features(p)
    backbone = keras.applications.MobileNetV2(input_shape=(cfg.side, cfg.side, 3),
                                              alpha=cfg.alpha, include_top=False, weights=None)
    backbone.load_weights(cfg.weights)
    cut = backbone.get_layer(CUT).output
    a_aug, a_clean = _activations(p, keras.Model(backbone.input, cut))
    eye = np.eye(len(classes), dtype=np.float32)
    results = {}
    for fold in cv.parse_folds(a.folds, [r.source for r in recs]):
        split = cv.fold_split(recs, fold, classes, seed=cfg.seed, val_fraction=cfg.val_fraction)
        tr, va, te = list(split.train), list(split.val), list(split.test)
        w = balanced_weights(recs, tr, classes, source_power=cfg.source_power)
        k = f_aug.shape[1]
        head_w, _ = train_head(f_aug[tr].reshape(-1, f_aug.shape[-1]), np.repeat(labels[tr], k),
                               np.repeat(w, k), f_clean[va], labels[va],
                               num_classes=len(classes), dropout=cfg.dropout, config=cfg.fit)
        head_acc = float((cv.head_probs(f_clean[te], head_w).argmax(1) == labels[te]).mean())
        keras.utils.set_random_seed(a.head_seed)
        backbone.load_weights(cfg.weights)  # every fold starts from ImageNet
        upper = keras.Model(cut, backbone.output)
        on = False
        for layer in upper.layers:
            on = on or layer.name == a.first
            layer.trainable = on and layer.__class__.__name__ != "BatchNormalization"
        inputs = keras.Input(tuple(cut.shape[1:]))
        x = keras.layers.GlobalAveragePooling2D()(upper(inputs, training=False))
        x = keras.layers.Dropout(cfg.dropout)(x)
        head = keras.layers.Dense(len(classes), activation="softmax",
                                  kernel_regularizer=keras.regularizers.l2(cfg.fit.head_l2))
        model = keras.Model(inputs, head(x))
        head.set_weights(head_w)
        model.compile(optimizer=keras.optimizers.Adam(a.lr),
                      loss=keras.losses.CategoricalCrossentropy(
                          label_smoothing=cfg.fit.label_smoothing))
        val = (a_clean[va].astype(np.float32), eye[labels[va]])
        best, best_w, curve = None, None, []
        for epoch in range(a.epochs):
            view = (epoch + np.arange(len(tr))) % k  # one view per image per epoch
            hist = model.fit(a_aug[tr, view].astype(np.float32), eye[labels[tr]],
                             sample_weight=w, batch_size=64, epochs=1, verbose=0,
                             shuffle=True, validation_data=val)
            vloss = float(hist.history["val_loss"][-1])
            curve.append(round(vloss, 4))
            if best is None or vloss < best:
                best, best_w = vloss, [v.copy() for v in model.get_weights()]
        model.set_weights(best_w)
        pred = model.predict(a_clean[te].astype(np.float32), batch_size=256, verbose=0)
        tuned = float((pred.argmax(1) == labels[te]).mean())
        results[",".join(fold)] = {"images": len(te), "head": head_acc, "tuned": tuned,
                                   "val_loss": curve}
        log.info("%s: head %.1f %% -> tuned %.1f %%", ",".join(fold), 100 * head_acc,
                 100 * tuned)
        a.json.write_text(json.dumps({"from": a.first, "epochs": a.epochs, "lr": a.lr,
                                      "head_seed": a.head_seed, "folds": results}, indent=1))


if __name__ == "__main__":
    main()
