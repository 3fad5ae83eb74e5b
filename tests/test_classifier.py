"""aoc.inference.classifier: real CPU inference on the tiny test models and Coral's reference model;
the Edge TPU path with fake delegate loaders; every way a model file can be wrong."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes.head_bundles import (
    CORAL_NAME,
    TwinModule,
    coral_bundle,
    reference_scores,
    standin_bundle,
)
from PIL import Image

from aoc.errors import BundleError, ConfigError, EdgeTpuUnavailable, InferenceError
from aoc.inference.bundle import Bundle, bare_bundle, load_bundle
from aoc.inference.classifier import Classifier, open_classifier
from aoc.inference.postprocess import LabelScore, top_k
from aoc.inference.runtime import Runtime, find_runtime

pytest.importorskip("ai_edge_litert")

MODELS = Path(__file__).parent / "data" / "models"
KINDS = ("uint8", "int8", "float_logits")
RED, GREEN, BLUE, GREY = (255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)


def solid(colour: tuple[int, int, int], width: int = 32, height: int = 32) -> np.ndarray:
    return np.full((height, width, 3), colour, np.uint8)


class RecordingModule:
    """The real runtime module, but Interpreter() records and drops the delegates it gets.

    Lets the "Edge TPU" path run for real on the CPU with a fake delegate object.
    """

    def __init__(self, real: object) -> None:
        self.real = real
        self.delegates: list[object] = []

    def Interpreter(self, **kwargs: object) -> object:  # noqa: N802 (the runtime's own name)
        self.delegates.append(kwargs.pop("experimental_delegates", None))
        return self.real.Interpreter(**kwargs)


def loader_raising(exc: BaseException):
    def load_delegate(library: str, options: dict) -> object:
        raise exc

    return load_delegate


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return find_runtime()


@pytest.fixture(params=KINDS)
def bundle(request) -> Bundle:
    return load_bundle(MODELS / request.param)


@pytest.fixture()
def uint8_bundle() -> Bundle:
    return load_bundle(MODELS / "uint8")


def test_real_predictions_follow_the_image(bundle: Bundle) -> None:
    with open_classifier(bundle) as clf:
        assert clf.backend == "cpu"
        assert clf.labels == ("anime", "cartoon", "neither")
        assert clf.input_size == (32, 32)
        for colour, expected in ((RED, "anime"), (GREEN, "cartoon"), (BLUE, "neither")):
            scores = clf.classify(solid(colour))
            assert scores.dtype == np.float32 and scores.shape == (3,)
            best = top_k(scores, clf.labels, k=1)[0]
            assert best.label == expected and best.score > 0.99
        # Grey: all channels equal -> the three classes tie.
        np.testing.assert_allclose(clf.classify(solid(GREY)), [1 / 3] * 3, atol=0.01)


def test_uint8_scores_are_dequantized_exactly(uint8_bundle: Bundle) -> None:
    with open_classifier(uint8_bundle, prefer="cpu") as clf:
        np.testing.assert_array_equal(clf.classify(solid(RED)), [255 / 256, 0, 0])
        np.testing.assert_array_equal(clf.classify(solid(GREY)), [85 / 256] * 3)


def test_logits_model_gets_softmax() -> None:
    with open_classifier(load_bundle(MODELS / "float_logits")) as clf:
        assert clf.output_kind == "logits"
        e = np.exp([8.0, 0.0, 0.0])
        np.testing.assert_allclose(clf.classify(solid(RED)), e / e.sum(), rtol=1e-4)


def test_stages_in_order_and_any_frame_size(uint8_bundle: Bundle) -> None:
    with open_classifier(uint8_bundle) as clf:
        clf.preprocess(solid(GREEN, 640, 480))  # a camera-sized frame is resized
        clf.invoke()
        assert top_k(clf.postprocess(), clf.labels, 1)[0].label == "cartoon"


def test_scores_outlive_the_next_invoke(bundle: Bundle) -> None:
    """The scores postprocess returns are the caller's own: unchanged (and no view of the
    output buffer left alive) when the next frame is invoked into the same buffer."""
    with open_classifier(bundle) as clf:
        red = clf.classify(solid(RED))
        kept = red.copy()
        clf.classify(solid(BLUE))
        np.testing.assert_array_equal(red, kept)
        assert top_k(red, clf.labels, 1)[0].label == "anime"


def test_resize_policy_from_the_manifest_changes_the_prediction(uint8_bundle: Bundle) -> None:
    frame = solid(RED, 96, 32)
    frame[:, 32:64] = GREEN  # red | green | red: the centre square is green
    spec = dataclasses.replace(uint8_bundle.input, resize="center_crop")
    cropped = dataclasses.replace(uint8_bundle, input=spec)
    with open_classifier(uint8_bundle) as stretch, open_classifier(cropped) as crop:
        assert top_k(stretch.classify(frame), stretch.labels, 1)[0].label == "anime"
        assert top_k(crop.classify(frame), crop.labels, 1)[0].label == "cartoon"


def test_reason_without_edgetpu_model(uint8_bundle: Bundle, runtime: Runtime) -> None:
    with open_classifier(uint8_bundle) as clf:
        assert clf.reason == (
            "Edge TPU: bundle tiny-uint8 has no Edge TPU model: edgetpu_compiler not found on "
            f"PATH; running CPU model model.tflite on {runtime.label}, default threads"
        )
        assert clf.runtime_name == runtime.label
    with pytest.raises(EdgeTpuUnavailable, match="has no Edge TPU model"):
        open_classifier(uint8_bundle, prefer="edgetpu")
    with open_classifier(uint8_bundle, prefer="cpu") as clf:
        assert clf.reason.startswith("CPU backend requested; running CPU model model.tflite")


def with_edgetpu_twin(bundle: Bundle, tmp_path: Path) -> Bundle:
    """The bundle plus a "model_edgetpu.tflite" that is really the CPU model (runs anywhere)."""
    twin = tmp_path / "model_edgetpu.tflite"
    shutil.copyfile(bundle.cpu_model, twin)
    return dataclasses.replace(bundle, edgetpu_model=twin)


def test_edgetpu_path_builds_interpreter_with_the_delegate(
    uint8_bundle: Bundle, runtime: Runtime, tmp_path: Path
) -> None:
    module = RecordingModule(runtime.module)
    fake_runtime = Runtime(runtime.name, runtime.version, module)
    delegate, calls = object(), []

    def load_delegate(library: str, options: dict) -> object:
        calls.append((library, options))
        return delegate

    bundle = with_edgetpu_twin(uint8_bundle, tmp_path)
    with open_classifier(
        bundle, edgetpu_device="usb:0", runtime=fake_runtime, load_delegate=load_delegate
    ) as clf:
        assert clf.backend == "edgetpu"
        assert clf.reason.startswith("Edge TPU at 'usb:0': running model_edgetpu.tflite")
        assert calls == [("libedgetpu.so.1", {"device": "usb:0"})]
        assert module.delegates == [[delegate]]
        assert top_k(clf.classify(solid(BLUE)), clf.labels, 1)[0].label == "neither"


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (OSError("libedgetpu.so.1: cannot open shared object file"), "libedgetpu not found"),
        (ValueError("Failed to load delegate"), "no Edge TPU found at device 'usb'"),
    ],
)
def test_auto_falls_back_to_cpu(
    uint8_bundle: Bundle, runtime: Runtime, tmp_path: Path, error: Exception, said: str
) -> None:
    bundle = with_edgetpu_twin(uint8_bundle, tmp_path)
    with open_classifier(bundle, load_delegate=loader_raising(error)) as clf:
        assert clf.backend == "cpu"
        assert clf.reason.startswith(f"Edge TPU: {said}")
        assert clf.reason.endswith(
            f"running CPU model model.tflite on {runtime.label}, default threads")
        assert top_k(clf.classify(solid(RED)), clf.labels, 1)[0].label == "anime"
    with pytest.raises(EdgeTpuUnavailable, match=said):
        open_classifier(bundle, prefer="edgetpu", load_delegate=loader_raising(error))


class DelegateRefusingModule(RecordingModule):
    """The runtime applies delegates inside Interpreter(); its error reporter raises
    RuntimeError when that fails."""

    def Interpreter(self, **kwargs: object) -> object:  # noqa: N802 (the runtime's own name)
        if kwargs.get("experimental_delegates"):
            raise RuntimeError("Failed to apply delegate: edgetpu-custom-op: USB transfer error")
        return super().Interpreter(**kwargs)


def test_a_delegate_failing_while_the_interpreter_is_built_falls_back_to_cpu(
    uint8_bundle: Bundle, runtime: Runtime, tmp_path: Path
) -> None:
    fake = Runtime(runtime.name, runtime.version, DelegateRefusingModule(runtime.module))
    bundle = with_edgetpu_twin(uint8_bundle, tmp_path)
    with open_classifier(bundle, runtime=fake, load_delegate=lambda lib, o: object()) as clf:
        assert clf.backend == "cpu"
        assert "the Edge TPU could not load model_edgetpu.tflite" in clf.reason
        assert "delegate could not be applied (Failed to apply delegate" in clf.reason
        assert top_k(clf.classify(solid(RED)), clf.labels, 1)[0].label == "anime"
    with pytest.raises(EdgeTpuUnavailable, match="libedgetpu matches the TFLite runtime"):
        open_classifier(bundle, prefer="edgetpu", runtime=fake,
                        load_delegate=lambda lib, o: object())


def test_unknown_backend_is_a_config_error(uint8_bundle: Bundle) -> None:
    with pytest.raises(ConfigError, match="'gpu' is not one of auto, edgetpu, cpu"):
        open_classifier(uint8_bundle, prefer="gpu")


def test_close_is_idempotent_and_final(uint8_bundle: Bundle) -> None:
    clf = open_classifier(uint8_bundle)
    assert isinstance(clf, Classifier)
    clf.close()
    clf.close()
    with pytest.raises(InferenceError, match="is closed"):
        clf.classify(solid(RED))


def test_bad_frame_is_refused(uint8_bundle: Bundle) -> None:
    with open_classifier(uint8_bundle) as clf, pytest.raises(InferenceError, match="uint8"):
        clf.classify(np.zeros((32, 32, 3), np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_bare_model_takes_quantization_from_tensors(kind: str) -> None:
    bare = bare_bundle(MODELS / kind / "model.tflite", MODELS / kind / "labels.txt")
    with open_classifier(bare) as clf:
        assert clf.output_kind == "probabilities"  # a bare model is assumed to end in softmax
        assert clf.input_size == (32, 32)
        assert top_k(clf.classify(solid(GREEN)), clf.labels, 1)[0].label == "cartoon"


# --- Coral's reference classifier (only where ../shared exists) ---------------------------


def photo(coral: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(coral / name).convert("RGB"))


def rounded(best: list[LabelScore]) -> list[tuple[str, float]]:
    return [(label.split(",")[0], round(score, 4)) for label, score in best]


def test_coral_reference_figures(coral: Path) -> None:
    bundle = bare_bundle(
        coral / "mobilenet_v1_0.25_128_quant.tflite", coral / "imagenet_labels.txt"
    )
    # the shared README's figures were measured with a Lanczos resize
    with open_classifier(bundle, prefer="cpu", resample="lanczos") as clf:
        assert clf.input_size == (128, 128)
        cat = rounded(top_k(clf.classify(photo(coral, "cat.bmp")), clf.labels, 3))
        # Egyptian cat and tiger cat tie at 68/256; ties keep class-id order (tiger cat, 282).
        assert sorted(cat[:2]) == [("Egyptian cat", 0.2656), ("tiger cat", 0.2656)]
        assert cat[2] == ("tabby", 0.1562)
        hopper = rounded(top_k(clf.classify(photo(coral, "grace_hopper.bmp")), clf.labels, 3))
        assert hopper == [("academic gown", 0.3281), ("mortarboard", 0.1172), ("suit", 0.1016)]


def test_edgetpu_twin_on_cpu_is_a_clear_error(coral: Path) -> None:
    twin = coral / "mobilenet_v1_0.25_128_quant_edgetpu.tflite"
    bundle = bare_bundle(
        coral / "mobilenet_v1_0.25_128_quant.tflite", coral / "imagenet_labels.txt"
    )
    as_cpu = dataclasses.replace(bundle, cpu_model=twin)
    with pytest.raises(BundleError, match="compiled for the Edge TPU and cannot run on the CPU"):
        open_classifier(as_cpu, prefer="cpu")


def test_edgetpu_twin_in_auto_mode_falls_back(coral: Path, runtime: Runtime) -> None:
    twin = coral / "mobilenet_v1_0.25_128_quant_edgetpu.tflite"
    bundle = bare_bundle(twin, coral / "imagenet_labels.txt")  # finds its CPU twin beside it
    assert bundle.edgetpu_model == twin.resolve()
    no_lib = loader_raising(OSError("libedgetpu.so.1: cannot open shared object file"))
    with open_classifier(bundle, load_delegate=no_lib, resample="lanczos") as clf:
        assert clf.backend == "cpu"
        assert "running CPU model mobilenet_v1_0.25_128_quant.tflite" in clf.reason
        hopper = rounded(top_k(clf.classify(photo(coral, "grace_hopper.bmp")), clf.labels, 1))
        assert hopper == [("academic gown", 0.3281)]
    # A delegate that "loads" but no TPU behind it: the twin fails to prepare -> CPU.
    fake = Runtime(runtime.name, runtime.version, RecordingModule(runtime.module))
    with open_classifier(bundle, runtime=fake, load_delegate=lambda lib, opts: object()) as clf:
        assert clf.backend == "cpu"
        assert "could not load mobilenet_v1_0.25_128_quant_edgetpu.tflite" in clf.reason


def test_a_broken_cpu_model_leads_its_own_error(uint8_bundle: Bundle, tmp_path: Path) -> None:
    """A corrupt bare model opened with 'Edge TPU: bundle broken has no Edge TPU model: bare
    model: no broken_edgetpu.tflite beside it; and on the CPU: ...re-copy the bundle'."""
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00" * 5000)
    bare = bare_bundle(broken, MODELS / "uint8" / "labels.txt")
    with pytest.raises(BundleError) as info:
        open_classifier(bare)
    text = str(info.value)
    assert text.startswith(f"model file {broken} is not a valid TFLite model")
    assert "Edge TPU" not in text and "re-copy the model file" in text
    # with an Edge TPU model there, why it could not stand in follows the CPU's error
    twin = tmp_path / "broken_edgetpu.tflite"
    shutil.copyfile(uint8_bundle.cpu_model, twin)
    with pytest.raises(BundleError) as info:
        open_classifier(dataclasses.replace(bare, edgetpu_model=twin),
                        load_delegate=loader_raising(ValueError("Failed to load delegate")))
    text = str(info.value)
    assert text.startswith(f"model file {broken} is not a valid TFLite model")
    assert "(the Edge TPU could not stand in: Edge TPU: no Edge TPU found" in text


def test_edgetpu_twin_alone_fails_cleanly(coral: Path, tmp_path: Path) -> None:
    twin = tmp_path / "mobilenet_v1_0.25_128_quant_edgetpu.tflite"
    shutil.copyfile(coral / twin.name, twin)
    bundle = bare_bundle(twin, coral / "imagenet_labels.txt")
    no_tpu = loader_raising(ValueError("Failed to load delegate"))
    with pytest.raises(BundleError, match="no Edge TPU found.*cannot run on the CPU"):
        open_classifier(bundle, load_delegate=no_tpu)


def test_real_delegate_loader_either_works_or_falls_back(coral: Path) -> None:
    """With the runtime's own load_delegate: no TPU here -> CPU; with a TPU -> Edge TPU."""
    bundle = bare_bundle(
        coral / "mobilenet_v1_0.25_128_quant_edgetpu.tflite", coral / "imagenet_labels.txt"
    )
    with open_classifier(bundle) as clf:
        assert clf.backend in ("cpu", "edgetpu")
        best = top_k(clf.classify(photo(coral, "grace_hopper.bmp")), clf.labels, 1)[0]
        assert best.label.startswith("academic gown")


# --- compiled backbone + head bundles ------------------------------------------------------

HEAD_COLOURS = (RED, GREEN, BLUE, GREY, (200, 30, 90), (10, 120, 240))


@pytest.fixture()
def standin(tmp_path: Path) -> Bundle:
    return standin_bundle(tmp_path)


def fake_tpu_runtime(runtime: Runtime) -> tuple[Runtime, TwinModule]:
    module = TwinModule(runtime.module)
    return Runtime(runtime.name, runtime.version, module), module


def test_head_bundle_equals_the_two_steps_by_hand(standin: Bundle, runtime: Runtime) -> None:
    with open_classifier(standin, prefer="cpu") as clf:
        assert clf.backend == "cpu" and clf.head is standin.head
        assert clf.reason == (
            f"CPU backend requested; running CPU model model.tflite on {runtime.label}, "
            "default threads; then head 8-5-3 on the CPU"
        )
        got = []
        for colour in HEAD_COLOURS:
            scores = clf.classify(solid(colour))
            assert scores.dtype == np.float32 and scores.shape == (3,)
            want = reference_scores(standin.cpu_model, solid(colour), standin.head)
            np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-7)
            got.append(scores)
    # the colours give different scores, so equal-to-reference says something
    assert np.ptp(np.array(got), axis=0).max() > 0.05


def test_head_bundle_runs_the_edgetpu_twin_when_a_tpu_is_there(
    standin: Bundle, runtime: Runtime
) -> None:
    fake, module = fake_tpu_runtime(runtime)
    delegate = object()
    with open_classifier(standin, runtime=fake, load_delegate=lambda lib, opts: delegate) as clf:
        assert clf.backend == "edgetpu" and clf.model_path.name == "model_edgetpu.tflite"
        assert clf.reason.startswith("Edge TPU at 'usb': running model_edgetpu.tflite")
        assert clf.reason.endswith("then head 8-5-3 on the CPU")
        assert module.built == [("model_edgetpu.tflite", [delegate])]
        want = reference_scores(standin.cpu_model, solid(GREEN), standin.head)
        np.testing.assert_allclose(clf.classify(solid(GREEN)), want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (OSError("libedgetpu.so.1: cannot open shared object file"), "libedgetpu not found"),
        (ValueError("Failed to load delegate"), "no Edge TPU found at device 'usb'"),
    ],
)
def test_head_bundle_without_a_tpu_runs_the_cpu_twin_and_says_why(
    standin: Bundle, runtime: Runtime, error: Exception, said: str
) -> None:
    fake, module = fake_tpu_runtime(runtime)
    with open_classifier(standin, runtime=fake, load_delegate=loader_raising(error)) as clf:
        assert clf.backend == "cpu" and clf.model_path.name == "model.tflite"
        assert clf.reason.startswith(f"Edge TPU: {said}")
        assert "; running CPU model model.tflite on" in clf.reason
        assert module.built == [("model.tflite", None)]
        want = reference_scores(standin.cpu_model, solid(BLUE), standin.head)
        np.testing.assert_allclose(clf.classify(solid(BLUE)), want, rtol=1e-5, atol=1e-7)


@pytest.fixture()
def coral_head(coral: Path, tmp_path: Path) -> Bundle:
    if not (coral / f"{CORAL_NAME}.tflite").is_file():
        pytest.skip("Coral embedding extractor absent from ../shared")
    return coral_bundle(coral, tmp_path)


def photo224(coral: Path, name: str) -> np.ndarray:
    """At the model's size, so the quantized input is exactly the pixels."""
    return np.asarray(Image.open(coral / name).convert("RGB").resize((224, 224)))


def test_coral_backbone_and_head_equal_the_two_steps_by_hand(
    coral: Path, coral_head: Bundle, runtime: Runtime
) -> None:
    with open_classifier(coral_head, prefer="cpu") as clf:
        assert clf.input_size == (224, 224) and clf.reason.endswith("head 1024-3 on the CPU")
        got = []
        for name in ("cat.bmp", "grace_hopper.bmp"):
            frame = photo224(coral, name)
            want = reference_scores(coral_head.cpu_model, frame, coral_head.head)
            got.append(clf.classify(frame))
            np.testing.assert_allclose(got[-1], want, rtol=1e-4, atol=1e-6)
    assert np.abs(got[0] - got[1]).max() > 0.01
    # With a (fake) TPU the compiled twin is the one opened; the fake runs its CPU twin.
    fake, module = fake_tpu_runtime(runtime)
    with open_classifier(coral_head, runtime=fake, load_delegate=lambda lib, o: object()) as clf:
        assert clf.backend == "edgetpu" and module.built[0][0] == "model_edgetpu.tflite"
        np.testing.assert_allclose(clf.classify(photo224(coral, "cat.bmp")), got[0], rtol=1e-5)


def test_coral_compiled_twin_without_a_tpu_falls_back_to_the_cpu_twin(
    coral: Path, coral_head: Bundle, runtime: Runtime
) -> None:
    # A delegate object that "loads" but no TPU behind it: the compiled twin cannot be
    # prepared, so auto runs the CPU twin (and the head) and says why.
    fake = Runtime(runtime.name, runtime.version, RecordingModule(runtime.module))
    with open_classifier(coral_head, runtime=fake, load_delegate=lambda lib, o: object()) as clf:
        assert clf.backend == "cpu"
        assert "could not load model_edgetpu.tflite" in clf.reason
        assert clf.reason.endswith("then head 1024-3 on the CPU")
        frame = photo224(coral, "grace_hopper.bmp")
        want = reference_scores(coral_head.cpu_model, frame, coral_head.head)
        np.testing.assert_allclose(clf.classify(frame), want, rtol=1e-4, atol=1e-6)
    with open_classifier(coral_head) as clf:  # the runtime's own loader: TPU or not, it runs
        assert clf.backend in ("cpu", "edgetpu")
        assert clf.classify(frame).shape == (3,)
