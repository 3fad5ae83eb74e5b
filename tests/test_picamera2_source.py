"""Picamera2Source against a fake written from the picamera2 manual."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fakes.picamera2_fake import QUADRANTS, assert_close, make_picamera2, quadrant_colours

from aoc.errors import CameraError, ConfigError
from aoc.sources.picamera2_source import Picamera2Source, lores_rgb_capable

PI4 = "Raspberry Pi 4 Model B Rev 1.5"
PI5 = "Raspberry Pi 5 Model B Rev 1.0"


def test_pi_model_detection():
    assert lores_rgb_capable(PI5)
    assert lores_rgb_capable("Raspberry Pi Compute Module 5 Rev 1.0")
    assert not lores_rgb_capable(PI4)
    assert not lores_rgb_capable(None)


# -- the source against the fake -------------------------------------------------------


def test_pi4_configures_yuv420_lores_and_converts():
    fake = make_picamera2(platform="vc4")
    src = Picamera2Source(size=(224, 224), pi_model=PI4, picamera2_factory=fake)
    with src:
        frame = src.read()
    cam = fake.instances[0]
    create = next(args for name, args in cam.calls if name == "create_preview_configuration")
    assert create["main"] == {"size": (640, 480), "format": "RGB888"}
    assert create["lores"] == {"size": (224, 224), "format": "YUV420"}
    assert ("capture_array", "lores") in cam.calls
    assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous
    assert_close(quadrant_colours(frame), QUADRANTS)
    assert cam.closed and [n for n, _ in cam.calls][-2:] == ["stop", "close"]


def test_pi5_uses_rgb_lores_and_swaps_bgr():
    fake = make_picamera2(platform="pisp")
    with Picamera2Source(size=(160, 120), pi_model=PI5, picamera2_factory=fake) as src:
        frame = src.read()
    create = next(a for n, a in fake.instances[0].calls if n == "create_preview_configuration")
    assert create["lores"] == {"size": (160, 120), "format": "RGB888"}
    assert quadrant_colours(frame) == list(QUADRANTS)  # exact: no YUV round trip


def test_no_size_reads_main_stream_in_rgb_order():
    fake = make_picamera2()
    with Picamera2Source(size=None, pi_model=PI5, picamera2_factory=fake) as src:
        frame = src.read()
    cam = fake.instances[0]
    assert ("capture_array", "main") in cam.calls
    assert frame.shape == (480, 640, 3)
    assert quadrant_colours(frame) == list(QUADRANTS)


def test_unknown_board_gets_the_yuv_lores_stream():
    fake = make_picamera2(platform="vc4")
    with Picamera2Source(size=(224, 224), pi_model=None, picamera2_factory=fake) as src:
        assert src.stream_format == "YUV420" and src.board is None


def test_odd_size_on_pi4_is_evened_then_cropped():
    fake = make_picamera2(platform="vc4")
    with Picamera2Source(size=(225, 223), pi_model=PI4, picamera2_factory=fake) as src:
        frame = src.read()
    create = next(a for n, a in fake.instances[0].calls if n == "create_preview_configuration")
    assert create["lores"]["size"] == (226, 224)
    assert frame.shape == (223, 225, 3) and frame.flags.c_contiguous


@pytest.mark.parametrize(("platform", "model", "fmt"), [("vc4", PI4, "YUV420"),
                                                        ("pisp", PI5, "RGB888")])
@pytest.mark.parametrize(("resize", "lores", "shape"), [
    ("stretch", (224, 224), (224, 224, 3)),
    ("center_crop", (300, 224), (224, 299, 3)),  # 640x480's aspect, evened, then cut
    ("letterbox", (300, 224), (224, 299, 3)),
])
def test_the_lores_stream_keeps_the_aspect_ratio_unless_the_model_stretches(
        platform, model, fmt, resize, lores, shape):
    """The lores stream is the main stream's field of view scaled: at 224x224 a 4:3 picture
    would be squashed, and a center_crop model was trained on undistorted pictures."""
    fake = make_picamera2(platform=platform)
    with Picamera2Source(size=(224, 224), resize=resize, pi_model=model,
                         picamera2_factory=fake) as src:
        frame = src.read()
    create = next(a for n, a in fake.instances[0].calls if n == "create_preview_configuration")
    assert create["lores"] == {"size": lores, "format": fmt}
    assert frame.shape == shape and frame.flags.c_contiguous


def test_a_picamera2_that_does_not_import_is_a_camera_error(monkeypatch: pytest.MonkeyPatch):
    """apt's picamera2 under a venv's numpy 2: "numpy.dtype size changed" (a ValueError)."""
    import builtins

    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "picamera2":
            raise ValueError("numpy.dtype size changed, may indicate binary incompatibility")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(CameraError, match=r"does not import.*numpy<2") as info:
        Picamera2Source().open()
    assert info.value.brief == "picamera2 does not import"


def test_a_lores_size_libcamera_adjusted_is_read_as_it_is(caplog: pytest.LogCaptureFixture):
    """The YUV planes follow the size libcamera chose; the frame is still the right size
    or the classifier's own fitting takes it from there."""
    fake = make_picamera2(platform="vc4", adjust_lores=(320, 240))
    with Picamera2Source(size=(224, 224), resize="center_crop", pi_model=PI4,
                         picamera2_factory=fake) as src:
        frame = src.read()
    assert frame.shape == (224, 299, 3)  # cut from the 320x240 stream
    assert_close(quadrant_colours(frame), QUADRANTS)
    assert "set the lores stream to (320, 240) instead of (300, 224)" in caplog.text


def test_size_larger_than_main_grows_main():
    fake = make_picamera2()
    with Picamera2Source(size=(800, 600), main_size=(640, 480), pi_model=PI5,
                         picamera2_factory=fake) as src:
        assert src.main_size == (800, 600)
        assert src.read().shape == (600, 800, 3)


@pytest.mark.parametrize(("mode", "period"), [("50hz", 10000), ("60hz", 8333)])
def test_anti_flicker_sets_manual_flicker_controls(mode: str, period: int):
    fake = make_picamera2()
    with Picamera2Source(anti_flicker=mode, pi_model=PI5, picamera2_factory=fake):
        cam = fake.instances[0]
        assert cam.controls["AeFlickerMode"] == 1
        assert cam.controls["AeFlickerPeriod"] == period


def test_anti_flicker_unsupported_is_logged_not_fatal(caplog: pytest.LogCaptureFixture):
    fake = make_picamera2(flicker_controls=False)
    with Picamera2Source(anti_flicker="50hz", pi_model=PI5, picamera2_factory=fake) as src:
        src.read()
        assert "AeFlickerMode" not in fake.instances[0].controls
    assert "anti-flicker" in caplog.text


def test_no_anti_flicker_by_default():
    fake = make_picamera2()
    with Picamera2Source(pi_model=PI5, picamera2_factory=fake):
        assert "AeFlickerMode" not in fake.instances[0].controls


def test_bad_anti_flicker_value_is_config_error():
    with pytest.raises(ConfigError, match="anti_flicker"):
        Picamera2Source(anti_flicker="100hz")


def test_missing_camera_names_it_and_the_fix():
    fake = make_picamera2(cameras=[])
    with pytest.raises(CameraError, match=r"camera 0 not found.*ribbon cable.*--list-cameras"):
        Picamera2Source(pi_model=PI5, picamera2_factory=fake).open()
    fake = make_picamera2()
    with pytest.raises(CameraError, match="camera 1 not found"):
        Picamera2Source(1, pi_model=PI5, picamera2_factory=fake).open()


def test_missing_picamera2_says_how_to_install(monkeypatch: pytest.MonkeyPatch):
    import sys

    monkeypatch.setitem(sys.modules, "picamera2", None)  # makes the import fail
    with pytest.raises(CameraError, match=r"apt install python3-picamera2.*system-site-packages"):
        Picamera2Source().open()


def test_a_stalled_camera_times_out_and_closes_behind_the_stuck_capture():
    """A pulled cable: picamera2 would wait for good without a numeric ``wait``, and stop()
    would queue behind the timed-out capture without ``cancel_all_and_flush``."""
    fake = make_picamera2(fail_capture_after=1)
    src = Picamera2Source(pi_model=PI5, picamera2_factory=fake, capture_timeout_s=2.5)
    src.open()
    src.read()
    with pytest.raises(CameraError, match="camera 0 stopped delivering frames.*timed out"):
        src.read()
    src.close()
    src.close()
    cam = fake.instances[0]
    assert cam.closed and not cam.pending_jobs
    assert [n for n, _ in cam.calls][-3:] == ["cancel_all_and_flush", "stop", "close"]
    with pytest.raises(CameraError, match="not open"):
        src.read()


def test_a_capture_cancelled_by_close_is_a_camera_error():
    """picamera2's cancel_all_and_flush fails a waiting capture with CancelledError, which is
    neither a RuntimeError nor an OSError: it went through every handler as a traceback."""
    fake = make_picamera2(block_capture_after=1)
    src = Picamera2Source(pi_model=PI5, picamera2_factory=fake, capture_timeout_s=5.0)
    src.open()
    src.read()
    errors: list[BaseException] = []

    def capture() -> None:
        try:
            src.read()
        except BaseException as exc:  # noqa: BLE001 - the test looks at what came out
            errors.append(exc)

    worker = threading.Thread(target=capture)
    worker.start()
    cam = fake.instances[0]
    assert cam.capture_waits.wait(5.0)
    src.close()
    worker.join(5.0)
    assert len(errors) == 1 and isinstance(errors[0], CameraError)
    assert "stopped delivering frames" in str(errors[0])


def test_a_camera_that_cannot_take_the_configuration_is_closed_and_named():
    """libcamera also lists USB webcams; one stream only, so picamera2 fails in its own
    ways (an IndexError for the missing lores stream): a CameraError, camera closed, so
    ``auto`` goes on to the webcam."""
    fake = make_picamera2()

    def one_stream_only(config):
        raise IndexError("list index out of range")

    fake.configure = lambda self, config: one_stream_only(config)
    with pytest.raises(CameraError, match=r"IndexError.*webcam:0"):
        Picamera2Source(pi_model=PI5, picamera2_factory=fake).open()
    assert fake.instances[0].closed


def test_open_twice_is_a_no_op():
    fake = make_picamera2()
    src = Picamera2Source(pi_model=PI5, picamera2_factory=fake)
    src.open()
    src.open()
    assert len(fake.instances) == 1
    src.close()


@pytest.mark.parametrize(("board", "platform"), [(PI4, "vc4"), (PI5, "pisp")])
@pytest.mark.parametrize(("size", "main_size"),
                         [((299, 299), (200, 150)), ((224, 224), (321, 241))])
def test_odd_sizes_still_configure_a_camera(board, platform, size, main_size):
    """picamera2 rounds every stream down to even: a 299x299 model on a smaller camera made
    main 299 (298 once aligned) against a 300 lores, which picamera2 refuses, so the camera
    never started."""
    fake = make_picamera2(platform=platform)
    with Picamera2Source(size=size, main_size=main_size, pi_model=board,
                         picamera2_factory=fake) as src:
        frame = src.read()
    config = next(a for n, a in fake.instances[0].calls if n == "configure")
    (mw, mh), (lw, lh) = config["main"]["size"], config["lores"]["size"]
    assert mw % 2 == mh % 2 == lw % 2 == lh % 2 == 0
    assert lw <= mw and lh <= mh
    assert (frame.shape[1], frame.shape[0]) == src.frame_size
