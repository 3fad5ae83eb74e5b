"""The classifier: preprocess -> invoke -> postprocess on one TFLite interpreter.

:func:`open_classifier` picks the backend. ``auto`` tries the Edge TPU (the bundle needs an
Edge TPU model and libedgetpu must find a TPU), else runs the CPU model, and says why in
``Classifier.reason``. For a "compiled backbone + head" bundle the interpreter runs the
backbone and ``postprocess`` dequantizes its embedding and runs the bundle's
:class:`~aoc.inference.head.DenseHead` on the CPU. The interpreter itself comes from
:mod:`aoc.inference.runtime`, the only module that imports a TFLite runtime, built and checked
against
the bundle by :mod:`aoc.inference.interpreter`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aoc.errors import BundleError, ConfigError, EdgeTpuUnavailable, InferenceError
from aoc.inference.head import QuantizedHead
from aoc.inference.interpreter import REBUILD_HINT, build_interpreter, model_format
from aoc.inference.postprocess import dequantize, scores_from_output
from aoc.inference.preprocess import Preprocessor, PreprocessSpec
from aoc.inference.resize import DEVICE_RESAMPLE
from aoc.inference.runtime import LoadDelegate, Runtime, find_runtime, load_edgetpu_delegate
from aoc.resource import Closing

if TYPE_CHECKING:
    from aoc.inference.bundle import Bundle
    from aoc.inference.head import DenseHead

__all__ = [
    "PREFER",
    "Classifier",
    "open_classifier",
]

log = logging.getLogger(__name__)

PREFER = ("auto", "edgetpu", "cpu")


class Classifier(Closing):
    """One model on one interpreter, in three timed stages (see ARCHITECTURE.md).

    Built by :func:`open_classifier`; the constructor takes an allocated interpreter.
    ``runtime_name`` is e.g. ``"ai-edge-litert 2.3.0"``. With ``head`` the model is a
    backbone: ``postprocess`` dequantizes its output (the embedding) with the output
    tensor's quantization and returns ``head(embedding)``, so the postprocess stage's
    timing includes the head.
    """

    def __init__(
        self,
        interpreter: Any,
        *,
        backend: str,
        reason: str,
        labels: tuple[str, ...],
        preprocess_spec: PreprocessSpec,
        output_kind: str,
        model_path: Path,
        runtime_name: str,
        delegate: Any = None,
        head: DenseHead | None = None,
    ) -> None:
        self.backend = backend
        self.reason = reason
        self.labels = tuple(labels)
        self.model_path = Path(model_path)
        self.runtime_name = runtime_name
        self.preprocess_spec = preprocess_spec
        self.input_size = (preprocess_spec.width, preprocess_spec.height)
        self.output_kind = output_kind
        self.head = head
        self._interpreter = interpreter
        self._delegate = delegate  # kept alive as long as the interpreter uses it
        self._pre = Preprocessor(preprocess_spec)
        self._input_index = interpreter.get_input_details()[0]["index"]
        out = interpreter.get_output_details()[0]
        self._output_index = out["index"]
        self._output_scale, self._output_zero_point = out["quantization"]
        # the head as the loop runs it: a table lookup instead of dequantize + power
        self._head_fast = (
            QuantizedHead(head, scale=self._output_scale, zero_point=self._output_zero_point,
                          dtype=np.dtype(out["dtype"]).name)
            if head is not None and np.dtype(out["dtype"]).name in ("uint8", "int8")
            and self._output_scale
            else None
        )
        # tensor() returns a function; its arrays view the input buffer and must not be held
        # across invoke(), so each frame takes a fresh view. The output is read with
        # get_tensor (a copy): a view there saved nothing measurable (aoc.bench.
        # postprocess_cold) and would make the next invoke fail while any caller held it.
        self._input_view = interpreter.tensor(self._input_index)

    def _live(self) -> Any:
        if self._interpreter is None:
            raise InferenceError(
                f"the {self.backend} classifier for {self.model_path.name} is closed: "
                "open a new one"
            )
        return self._interpreter

    def preprocess(self, frame: np.ndarray) -> None:
        """Fit and quantize ``frame`` straight into the model's input tensor."""
        self._live()
        self._pre(frame, self._input_view())

    def load_input(self, pixels: np.ndarray) -> None:
        """Copy an already preprocessed input (model dtype, ``(H, W, 3)``) into the tensor.

        For :mod:`aoc.inference.isolated`, whose parent process does the preprocessing.
        """
        self._live()
        view = self._input_view()
        if pixels.shape != view.shape[-3:] or pixels.dtype != view.dtype:
            raise InferenceError(
                f"preprocessed input is {pixels.dtype} {pixels.shape}, but {self.model_path.name} "
                f"takes {view.dtype} {view.shape[-3:]}"
            )
        np.copyto(view[0] if view.ndim == 4 else view, pixels)

    def invoke(self) -> None:
        """Run the model on the current input tensor."""
        interpreter = self._live()
        try:
            interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            hint = (
                "check the Edge TPU's USB cable and power, or run with --backend cpu"
                if self.backend == "edgetpu"
                else REBUILD_HINT
            )
            raise InferenceError(
                f"{self.backend} inference on {self.model_path.name} failed ({exc}): {hint}"
            ) from exc

    def postprocess(self) -> np.ndarray:
        """The scores of the last invoke: float32 probabilities, one per label."""
        raw = self._live().get_tensor(self._output_index)
        if self._head_fast is not None:
            return self._head_fast(raw)
        if self.head is not None:
            embedding = dequantize(
                raw.reshape(-1), scale=self._output_scale, zero_point=self._output_zero_point
            )
            return self.head(embedding)
        return scores_from_output(
            raw,
            kind=self.output_kind,
            scale=self._output_scale,
            zero_point=self._output_zero_point,
        )

    def classify(self, frame: np.ndarray) -> np.ndarray:
        """preprocess, invoke, postprocess."""
        self.preprocess(frame)
        self.invoke()
        return self.postprocess()

    def close(self) -> None:
        """Release the interpreter and delegate; safe to call twice."""
        if self._interpreter is not None:
            log.debug("closing %s classifier for %s", self.backend, self.model_path)
        self._interpreter = None
        self._input_view = None
        self._delegate = None

    def __repr__(self) -> str:
        return f"Classifier({self.backend}, {self.model_path.name}, {self.runtime_name})"


def _open(
    bundle: Bundle,
    path: Path,
    runtime: Runtime,
    *,
    backend: str,
    reason: str,
    delegates: tuple[Any, ...],
    num_threads: int | None,
    resample: str,
) -> Classifier:
    interpreter = build_interpreter(runtime, path, delegates=delegates, num_threads=num_threads)
    pre, kind = model_format(interpreter, bundle, path, resample=resample)
    if bundle.head is not None:
        sizes = "-".join(map(str, bundle.head.layer_sizes))
        reason += f"; then head {sizes} on the CPU"
    return Classifier(
        interpreter,
        backend=backend,
        reason=reason,
        labels=bundle.labels,
        preprocess_spec=pre,
        output_kind=kind,
        model_path=path,
        runtime_name=runtime.label,
        delegate=delegates[0] if delegates else None,
        head=bundle.head,
    )


def _open_edgetpu(bundle: Bundle, runtime: Runtime, **kw: Any) -> Classifier:
    if bundle.edgetpu_model is None:
        why = bundle.edgetpu.reason or "it was built without one"
        raise EdgeTpuUnavailable(f"bundle {bundle.name} has no Edge TPU model: {why}")
    device = kw.pop("edgetpu_device")
    delegate = load_edgetpu_delegate(device, runtime=runtime, load_delegate=kw.pop("load_delegate"))
    path = Path(bundle.edgetpu_model)
    where = f"'{device}'" if device else "the first Edge TPU"
    reason = f"Edge TPU at {where}: running {path.name} on {runtime.label} with libedgetpu"
    try:
        return _open(
            bundle, path, runtime, backend="edgetpu", reason=reason, delegates=(delegate,), **kw
        )
    except BundleError as exc:
        raise EdgeTpuUnavailable(f"the Edge TPU could not load {path.name}: {exc}") from exc


def open_classifier(
    bundle: Bundle,
    *,
    prefer: str = "auto",
    edgetpu_device: str = "usb",
    num_threads: int | None = None,
    runtime: Runtime | None = None,
    load_delegate: LoadDelegate | None = None,
    resample: str = DEVICE_RESAMPLE,
    cpu_why: str = "CPU backend requested",
) -> Classifier:
    """Open ``bundle`` on the Edge TPU or the CPU.

    ``prefer``: ``auto`` (Edge TPU when possible, else CPU; ``reason`` says why),
    ``edgetpu`` (EdgeTpuUnavailable when it cannot) or ``cpu`` (``reason`` starts with
    ``cpu_why``: a failover's stand-in says so instead of "requested"). ``runtime`` and
    ``load_delegate`` are injectable for tests; by default the fastest installed runtime
    and its own ``load_delegate``. ``resample`` is the filter (one of
    ``aoc.inference.resize.RESAMPLE_NAMES``) used when a frame is not already the model's size.
    """
    if prefer not in PREFER:
        raise ConfigError(
            f"backend {prefer!r} is not one of {', '.join(PREFER)}", key="inference.backend"
        )
    runtime = runtime or find_runtime()
    kw: dict[str, Any] = {"num_threads": num_threads, "resample": resample}
    tpu_reason = cpu_why
    if prefer in ("auto", "edgetpu"):
        try:
            classifier = _open_edgetpu(
                bundle, runtime, edgetpu_device=edgetpu_device, load_delegate=load_delegate, **kw
            )
        except EdgeTpuUnavailable as exc:
            if prefer == "edgetpu":
                raise
            tpu_reason = f"Edge TPU: {exc}"
            log.info("%s; falling back to the CPU", tpu_reason)
        else:
            log.info("%s", classifier.reason)
            return classifier
    try:
        path = bundle.require_cpu_model()
    except BundleError as exc:
        raise BundleError(f"{tpu_reason}; {exc}", path=exc.path) from exc
    threads = f"{num_threads} threads" if num_threads else "default threads"
    reason = f"{tpu_reason}; running CPU model {path.name} on {runtime.label}, {threads}"
    try:
        classifier = _open(
            bundle, Path(path), runtime, backend="cpu", reason=reason, delegates=(), **kw
        )
    except BundleError as exc:
        if prefer == "cpu" or bundle.edgetpu_model is None:
            # no Edge TPU model at all: its absence is no news next to a broken CPU model
            raise
        raise BundleError(f"{exc} (the Edge TPU could not stand in: {tpu_reason})",
                          path=exc.path) from exc
    log.info("%s", reason)
    return classifier
