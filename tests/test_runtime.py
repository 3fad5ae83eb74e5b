"""inference/runtime: runtime discovery order and the Edge TPU delegate path, with fake loaders."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from aoc.errors import BackendError, EdgeTpuUnavailable
from aoc.inference.runtime import (
    Runtime,
    RuntimeNotFound,
    find_runtime,
    load_edgetpu_delegate,
    make_interpreter,
    missing_edgetpu,
)


class FakeImporter:
    """import_module stand-in: ``modules`` maps names to modules or exceptions to raise."""

    def __init__(self, modules: dict[str, object]) -> None:
        self.modules = modules
        self.tried: list[str] = []

    def __call__(self, name: str) -> object:
        self.tried.append(name)
        found = self.modules.get(name, ImportError(f"No module named {name!r}"))
        if isinstance(found, BaseException):
            raise found
        return found


def fake_module(name: str) -> SimpleNamespace:
    return SimpleNamespace(__name__=name, __version__="9.9", Interpreter=None, load_delegate=None)


def test_real_runtime_is_ai_edge_litert() -> None:
    pytest.importorskip("ai_edge_litert")
    runtime = find_runtime()
    assert runtime.name == "ai-edge-litert"
    assert runtime.version[0].isdigit()
    assert hasattr(runtime.module, "Interpreter") and hasattr(runtime.module, "load_delegate")
    assert runtime.label == f"ai-edge-litert {runtime.version}"


def test_litert_is_preferred_over_tflite_runtime() -> None:
    importer = FakeImporter(
        {
            "ai_edge_litert.interpreter": fake_module("ai_edge_litert.interpreter"),
            "tflite_runtime.interpreter": fake_module("tflite_runtime.interpreter"),
        }
    )
    assert find_runtime(import_module=importer).name == "ai-edge-litert"
    assert importer.tried == ["ai_edge_litert.interpreter"]


def test_falls_back_to_tflite_runtime_even_when_it_breaks_oddly() -> None:
    module = fake_module("tflite_runtime.interpreter")
    importer = FakeImporter({"tflite_runtime.interpreter": module})
    runtime = find_runtime(import_module=importer)
    assert runtime.name == "tflite-runtime" and runtime.module is module
    # tflite-runtime built for numpy 1 fails with AttributeError under numpy 2: skipped, reported.
    broken = FakeImporter({"tflite_runtime.interpreter": AttributeError("_ARRAY_API not found")})
    with pytest.raises(RuntimeNotFound, match="_ARRAY_API not found"):
        find_runtime(import_module=broken)


def test_tensorflow_is_never_tried() -> None:
    tf = fake_module("tensorflow.lite.python.interpreter")
    importer = FakeImporter({"tensorflow.lite.python.interpreter": tf})
    with pytest.raises(RuntimeNotFound) as caught:
        find_runtime(import_module=importer)
    assert "tensorflow.lite.python.interpreter" not in importer.tried
    message = str(caught.value)
    assert "pip install ai-edge-litert" in message
    assert "pycoral" in message and "unrelated" in message  # warns, never recommends it
    assert "TensorFlow is never tried" in message
    assert isinstance(caught.value, BackendError)


def test_device_imports_never_pull_in_tensorflow(repo_root) -> None:
    pytest.importorskip("ai_edge_litert")
    code = textwrap.dedent(
        """
        import sys
        import aoc.inference.classifier
        import aoc.inference.postprocess
        import aoc.inference.preprocess
        import aoc.inference.resize
        import aoc.inference.runtime
        aoc.inference.runtime.find_runtime()
        assert "tensorflow" not in sys.modules, "TensorFlow was imported"
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(repo_root / "device")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_delegate_missing_library_says_what_to_install() -> None:
    def load_delegate(library: str, options: dict) -> object:
        raise OSError(f"{library}: cannot open shared object file")

    with pytest.raises(EdgeTpuUnavailable, match="install libedgetpu1-std") as caught:
        load_edgetpu_delegate("usb", load_delegate=load_delegate)
    assert "libedgetpu not found" in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)


def test_delegate_missing_tpu_names_the_device() -> None:
    def load_delegate(library: str, options: dict) -> object:
        raise ValueError("Failed to load delegate from libedgetpu.so.1")

    with pytest.raises(EdgeTpuUnavailable) as caught:
        load_edgetpu_delegate("usb:0", load_delegate=load_delegate)
    message = str(caught.value)
    assert "no Edge TPU found at device 'usb:0'" in message
    assert "1a6e:089a" in message and "18d1:9302" in message


@pytest.mark.parametrize(
    ("device", "options"),
    [
        ("usb", {"device": "usb"}),
        ("usb:0", {"device": "usb:0"}),
        ("pci:0", {"device": "pci:0"}),
        ("", {}),
    ],
)
def test_delegate_success_passes_library_and_device(device: str, options: dict) -> None:
    calls = []
    sentinel = object()

    def load_delegate(library: str, opts: dict) -> object:
        calls.append((library, opts))
        return sentinel

    assert load_edgetpu_delegate(device, load_delegate=load_delegate) is sentinel
    assert calls == [("libedgetpu.so.1", options)]


def test_default_loader_probes_the_library_first() -> None:
    calls = []

    def never(library: str, options: dict) -> object:
        calls.append(library)
        return object()

    runtime = Runtime("fake", "0", SimpleNamespace(load_delegate=never))
    with pytest.raises(EdgeTpuUnavailable, match="libedgetpu not found"):
        load_edgetpu_delegate("usb", library="/nonexistent/libedgetpu.so.1", runtime=runtime)
    assert calls == []  # the runtime's own loader was not reached


def test_make_interpreter_passes_delegates_and_threads() -> None:
    made = []

    def interpreter(**kwargs: object) -> object:
        made.append(kwargs)
        return kwargs

    runtime = Runtime("fake", "0", SimpleNamespace(Interpreter=interpreter))
    delegate = object()
    make_interpreter(runtime, "m.tflite")
    make_interpreter(runtime, "m.tflite", delegates=(delegate,), num_threads=4)
    assert made == [
        {"model_path": "m.tflite"},
        {"model_path": "m.tflite", "experimental_delegates": [delegate], "num_threads": 4},
    ]


@pytest.mark.parametrize(("device", "found", "says"), [
    ("usb", ["usb:18d1:9302"], None),
    ("usb:0", ["usb:1a6e:089a", "pci:/dev/apex_0"], None),
    ("pci", ["pci:/dev/apex_0"], None),
    ("usb", [], "plug in the Coral"),
    ("usb", ["pci:/dev/apex_0"], 'edgetpu_device = "pci"'),
    ("pci:1", ["usb:18d1:9302"], 'edgetpu_device = "usb"'),
    ("usb:1", ["usb:18d1:9302"], 'edgetpu_device = "usb" or "usb:0"'),
    ("usb:1", ["usb:18d1:9302", "usb:1a6e:089a"], None),
])
def test_missing_edgetpu_is_judged_by_the_configured_kind(device, found, says) -> None:
    """libedgetpu opens only the kind it is given ("usb" never opens an M.2 Coral)."""
    reason = missing_edgetpu(device, found)
    if says is None:
        assert reason is None
    else:
        assert says in reason
