"""open_source: spec parsing and the auto choice (tests for aoc/sources/factory.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fakes.picamera2_fake import make_picamera2
from PIL import Image

from aoc.errors import CameraError, ConfigError
from aoc.sources import (
    DemoSource,
    ImageFolderSource,
    OpenCVSource,
    Picamera2Source,
    open_source,
)
from aoc.sources.source_spec import check_source_spec

PI5 = "Raspberry Pi 5 Model B Rev 1.0"


class OneFrameCapture:
    def __init__(self, target: object, opened: bool) -> None:
        self.target, self.opened = target, opened
        self.props: dict[object, object] = {}

    def isOpened(self) -> bool:  # noqa: N802
        return self.opened

    def set(self, prop: object, value: object) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: object) -> float:
        return 0.0  # no frame rate stated: a file is read frame after frame

    def read(self) -> tuple[bool, np.ndarray]:
        return True, np.zeros((4, 4, 3), np.uint8)

    def release(self) -> None:
        self.opened = False


def cv2_with_webcam(present: bool) -> SimpleNamespace:
    captures: list[OneFrameCapture] = []

    def video_capture(target: object) -> OneFrameCapture:
        captures.append(OneFrameCapture(target, present))
        return captures[-1]

    return SimpleNamespace(
        VideoCapture=video_capture, captures=captures, CAP_PROP_FRAME_WIDTH=3,
        CAP_PROP_FRAME_HEIGHT=4, CAP_PROP_FPS=5, CAP_PROP_BUFFERSIZE=38, CAP_PROP_POS_FRAMES=1,
        COLOR_BGR2RGB=4, COLOR_GRAY2RGB=8, INTER_AREA=3,
        cvtColor=lambda img, code: img[..., ::-1].copy(),
        resize=lambda img, dsize, interpolation=0: np.zeros((dsize[1], dsize[0], 3), np.uint8),
    )


@pytest.fixture
def no_picamera2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)


def test_auto_prefers_picamera2_when_a_camera_is_listed():
    fake = make_picamera2()
    source, description = open_source("auto", size=(224, 224), picamera2_factory=fake,
                                      pi_model=PI5, cv2_module=cv2_with_webcam(True))
    with source:
        assert isinstance(source, Picamera2Source)
        assert description == "picamera2 camera 0 (imx708)"
        assert source.read().shape == (224, 224, 3)


def test_the_models_resize_policy_reaches_the_camera_sources(no_picamera2: None):
    """A center_crop model gets the camera's aspect ratio from picamera2 and OpenCV alike."""
    fake = make_picamera2()
    source, _ = open_source("picamera2", size=(224, 224), resize="center_crop",
                            picamera2_factory=fake, pi_model=PI5)
    with source:
        assert source.read().shape == (224, 299, 3)
    source, _ = open_source("webcam:0", size=(8, 8), resize="center_crop",
                            cv2_module=cv2_with_webcam(True))
    with source:
        assert isinstance(source, OpenCVSource) and source.resize == "center_crop"


def test_auto_falls_back_to_webcam_then_says_why(no_picamera2: None):
    source, description = open_source("auto", size=(8, 8), cv2_module=cv2_with_webcam(True))
    with source:
        assert isinstance(source, OpenCVSource) and source.target == 0
    assert description == "webcam 0 (picamera2 not installed)"


def test_auto_falls_back_to_demo_with_reasons(caplog: pytest.LogCaptureFixture):
    source, description = open_source(
        "auto", size=(64, 48), picamera2_factory=make_picamera2(cameras=[]),
        cv2_module=cv2_with_webcam(False),
    )
    with source:
        assert isinstance(source, DemoSource) and source.read().shape == (48, 64, 3)
    assert description == (
        "no camera found (picamera2 lists no camera 0; no webcam at index 0): "
        "using the built-in demo source"
    )
    assert "using the built-in demo source" in caplog.text


def test_auto_reports_missing_everything(no_picamera2: None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    source, description = open_source("auto")
    source.close()
    assert description.startswith("no camera found (picamera2 not installed; OpenCV not installed)")


def test_explicit_specs():
    fake = make_picamera2(cameras=[{"Model": "imx219"}, {"Model": "imx708"}])
    source, description = open_source("picamera2:1", picamera2_factory=fake, pi_model=PI5)
    assert source.camera_num == 1 and description == "picamera2 camera 1 (imx708)"
    source.close()
    for spec in (0, "0", "webcam:0"):
        source, description = open_source(spec, cv2_module=cv2_with_webcam(True))
        assert isinstance(source, OpenCVSource) and source.target == 0
        assert description == "webcam 0"
        source.close()
    source, description = open_source("rtsp://cam.local/live", cv2_module=cv2_with_webcam(True))
    assert source.is_live and description == "stream rtsp://cam.local/live"
    source.close()
    source, description = open_source("demo", size=(32, 32))
    assert isinstance(source, DemoSource) and description == "the built-in demo source"
    source.close()


def test_camera_width_and_height_are_asked_of_a_webcam_not_of_a_stream():
    cv2 = cv2_with_webcam(True)
    for spec in (0, "webcam:0", "rtsp://cam.local/live"):
        source, _ = open_source(spec, main_size=(1280, 720), cv2_module=cv2)
        source.close()
    asked = [(c.props.get(3), c.props.get(4)) for c in cv2.captures]
    assert asked == [(1280, 720), (1280, 720), (None, None)]


def test_a_device_node_is_a_webcam_not_a_video_file():
    """/dev/video0 (or a /dev/v4l/by-id/ link) was opened as a video file: not live, no
    newest-frame grabber, rewound at its 'end'. /dev/null stands in for the node."""
    cv2 = cv2_with_webcam(True)
    source, description = open_source("/dev/null", main_size=(800, 600), cv2_module=cv2)
    with source:
        assert description == "webcam /dev/null" and source.is_live
        assert source.name == "webcam:/dev/null"
    assert (cv2.captures[0].props.get(3), cv2.captures[0].props.get(4)) == (800, 600)
    with pytest.raises(CameraError, match="no webcam /dev/null: check it is plugged in"):
        open_source("/dev/null", cv2_module=cv2_with_webcam(False))
    source, description = open_source("video:/dev/null", cv2_module=cv2_with_webcam(True))
    with source:  # the kind forced by hand still wins
        assert description == "video file /dev/null" and not source.is_live


def test_paths_folders_globs_and_files(tmp_path: Path):
    Image.new("RGB", (10, 10), (1, 2, 3)).save(tmp_path / "a.png")
    (tmp_path / "clip.avi").write_bytes(b"")
    for spec in (str(tmp_path), str(tmp_path / "*.png"), str(tmp_path / "a.png"),
                 f"folder:{tmp_path}"):
        source, description = open_source(spec, size=(4, 4))
        assert isinstance(source, ImageFolderSource), spec
        assert description.startswith("images from")
        assert source.read().shape == (4, 4, 3)
        source.close()
    with pytest.raises(CameraError, match="clip.avi could not be opened"):
        open_source(str(tmp_path / "clip.avi"), cv2_module=cv2_with_webcam(False))


def test_a_video_named_like_a_glob_or_under_home_is_opened_as_that_video(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """'[Subs] Show - 01.mkv' was taken for a glob of images and never played; '~/clip.mp4'
    passed the start-up check and was then opened as written (no shell expands ~ in TOML)."""
    from aoc.sources import OpenCVSource

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "[Subs] Show - 01 (720p).mkv").write_bytes(b"")
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "pics").mkdir()
    Image.new("RGB", (10, 10)).save(tmp_path / "pics" / "a.png")
    opened = []

    def capture(target: object) -> OneFrameCapture:
        opened.append(target)
        return OneFrameCapture(target, True)

    cv2 = cv2_with_webcam(True)
    cv2.VideoCapture, cv2.CAP_PROP_FPS = capture, 5
    for spec, target in ((str(tmp_path / "[Subs] Show - 01 (720p).mkv"),
                          str(tmp_path / "[Subs] Show - 01 (720p).mkv")),
                         ("~/clip.mp4", str(tmp_path / "clip.mp4")),
                         ("video:~/clip.mp4", str(tmp_path / "clip.mp4"))):
        check_source_spec(spec)
        source, description = open_source(spec, cv2_module=cv2)
        assert isinstance(source, OpenCVSource) and opened[-1] == target, spec
        assert description == f"video file {target}"
        source.close()
    source, _ = open_source("~/pics", size=(4, 4))
    assert isinstance(source, ImageFolderSource) and source.read().shape == (4, 4, 3)
    source.close()


def test_bad_specs():
    with pytest.raises(CameraError, match="not a camera name"):
        open_source("/no/such/thing.mp4")
    with pytest.raises(ConfigError, match="picamera2:N"):
        open_source("picamera2:x")
    with pytest.raises(ConfigError, match="webcam:N"):
        open_source("webcam:x")
    with pytest.raises(ConfigError):
        open_source(1.5)  # type: ignore[arg-type]
    for spec in (2**31, "webcam:2147483648", "99999999999"):
        with pytest.raises(ConfigError, match="0 to 255"):
            open_source(spec)


def test_an_image_folder_holds_each_picture_like_the_demo(tmp_path):
    """One picture per frame: at 30 fps the smoothing blended about thirty pictures into one
    verdict ('both' for a folder of mixed pictures)."""
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        Image.new("RGB", (16, 16), colour).save(tmp_path / f"{i}.png")
    source, description = open_source(str(tmp_path), size=(8, 8), demo_period_s=3600.0)
    with source:
        frames = [source.read() for _ in range(5)]
    assert all((f == frames[0]).all() for f in frames) and frames[0][0, 0, 0] == 255
    assert description.endswith("3600 s each")
