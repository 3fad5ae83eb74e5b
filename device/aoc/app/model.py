"""Wiring of the model: which bundle (with fallback) and which classifier runs it.

Part of the app's wiring (:mod:`aoc.app.wiring`): ``[model]`` and ``[inference]`` of the config
become a :class:`~aoc.inference.model_select.Selection` whose ``opened`` is the classifier.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aoc.app.host import Host
from aoc.config_sections import Config
from aoc.inference.model_select import Selection, candidates, read_last_good, select

START_TIMEOUT_S = 60.0
"""How long the Edge TPU's inference child may take to start at boot (imports, firmware)."""
REPROBE_START_TIMEOUT_S = 12.0
"""The same for a re-probe mid-run: it blocks the loop, which feeds systemd's watchdog
(``WatchdogSec=30`` in the unit), so a wedged accelerator must give up well within it."""


def attached_edgetpus() -> list[str]:
    """The Edge TPUs attached (USB IDs or /dev/apex_N): a cheap check before spawning."""
    from aoc.inference.runtime import find_edgetpus

    return find_edgetpus()


def inference_threads(config: Config, host: Host | None) -> int | None:
    """CPU threads for the interpreter: ``[inference] num_threads``, or when it is 0 every
    CPU the process may use (``host.cpu_count``; ``None``, the runtime's default, when
    unknown).

    0 cannot be left to the runtime: LiteRT's default is one thread, and the default
    model's CPU twin took 9.8 ms a frame on one thread against 4.9 ms on this host's two
    (``aoc bench``, 2026-12-07); a Pi 4 or 5 has four cores.
    """
    if config.inference.num_threads:
        return config.inference.num_threads
    return host.cpu_count if host is not None else None


def classifier_opener(
    config: Config, *, tpu_probe: Callable[[], Sequence[str]] = attached_edgetpus,
    num_threads: int | None = None,
) -> Callable[[Any], Any]:
    """bundle -> classifier following ``[inference]``.

    ``cpu``: the CPU model. ``auto``/``edgetpu`` with an Edge TPU model in the bundle: a
    :class:`~aoc.inference.failover.FailoverClassifier` whose primary is the TPU (in a child process
    when ``isolate_tpu``) and whose fallback is the CPU; it re-probes the TPU every
    ``reprobe_interval_s``; ``tpu_probe`` lists the attached Edge TPUs (see
    :func:`~aoc.inference.runtime.find_edgetpus`), and without one of the configured
    ``edgetpu_device``'s kind no child is started. Without a TPU model: the CPU, with the
    reason. CPU models run
    on ``num_threads`` threads (see :func:`inference_threads`; ``None``: the runtime's
    default).
    """
    from aoc.errors import EdgeTpuNotFound
    from aoc.inference.classifier import open_classifier
    from aoc.inference.runtime import missing_edgetpu

    inf = config.inference

    def cpu(bundle: Any) -> Any:
        return open_classifier(bundle, prefer="cpu", num_threads=num_threads)

    def opener(bundle: Any) -> Any:
        if inf.backend == "cpu":
            return cpu(bundle)
        if bundle.edgetpu_model is None:
            # "auto" fails over at once and its reason says why there is no TPU model.
            return open_classifier(bundle, prefer="auto", num_threads=num_threads)
        from aoc.inference.failover import FailoverClassifier

        def primary(start_timeout_s: float = START_TIMEOUT_S) -> Any:
            missing = missing_edgetpu(inf.edgetpu_device, tpu_probe())
            if missing:
                raise EdgeTpuNotFound(missing)
            if inf.isolate_tpu:
                from aoc.inference.isolated import open_isolated_classifier

                return open_isolated_classifier(
                    bundle, prefer="edgetpu", edgetpu_device=inf.edgetpu_device,
                    num_threads=num_threads, start_timeout_s=start_timeout_s)
            return open_classifier(bundle, prefer="edgetpu",
                                   edgetpu_device=inf.edgetpu_device, num_threads=num_threads)

        def stand_in() -> Any:
            return open_classifier(bundle, prefer="cpu", num_threads=num_threads,
                                   cpu_why="the CPU model stands in")

        return FailoverClassifier(
            primary, stand_in, reprobe_interval_s=inf.reprobe_interval_s,
            reprobe_factory=functools.partial(primary, start_timeout_s=REPROBE_START_TIMEOUT_S))

    return opener


def open_one_shot_classifier(config: Config, host: Host | None = None) -> Selection:
    """The classifier ``classify``/``bench``/``explain`` use: the configured model, no fallback."""
    m = config.model
    cands = candidates(bundle=m.bundle, model=m.model, labels=m.labels)
    opener = classifier_opener(config, num_threads=inference_threads(config, host))
    return select(cands, opener, fallback=False)


def open_model(config: Config, host: Host, *, opener: Callable[[Any], Any] | None = None,
               default_dirs: Sequence[Path] | None = None) -> Selection[Any]:
    """Select, load and open the model with fallback (see :mod:`aoc.inference.model_select`)."""
    state_file = host.state_dir / "last-good-bundle" if host.state_dir else None
    m = config.model
    cands = candidates(bundle=m.bundle, model=m.model, labels=m.labels,
                       last_good=read_last_good(state_file), default_dirs=default_dirs)
    if opener is None:
        opener = classifier_opener(config, num_threads=inference_threads(config, host))
    return select(cands, opener, fallback=m.fallback,
                  state_file=state_file)


def source_resize(bundle: Any) -> str:
    """How a source should fit frames to the model: the bundle's ``input.resize`` (the
    sources take the manifest's names), ``stretch`` for a bare model."""
    spec = getattr(bundle, "input", None)
    return spec.resize if spec is not None else "stretch"

