"""The one exception hierarchy of the appliance.

Every error the project raises derives from :class:`AocError`; specific errors also
subclass the builtin that fits, so callers may catch either. Messages name the device,
file or key concerned and say what to do about it.
"""

from __future__ import annotations


class AocError(Exception):
    """Root of every error raised by Anime or Cartoon?."""


class ConfigError(AocError, ValueError):
    """A configuration value is missing, of the wrong type or out of range.

    ``key`` is the dotted config key (``display.driver``), when there is one. ``temporary``
    marks a config file that could not be read for a reason that may pass (an I/O error of a
    failing card, a drive not answering): ``aoc run`` then exits 75, which the service
    restarts, not 78, which it does not.
    """

    def __init__(self, message: str, *, key: str | None = None,
                 temporary: bool = False) -> None:
        super().__init__(message)
        self.key = key
        self.temporary = temporary


class BundleError(AocError, ValueError):
    """A model bundle (or bare model / labels file) is missing, corrupt or inconsistent.

    ``path`` is the file or folder at fault.
    """

    def __init__(self, message: str, *, path: object | None = None) -> None:
        super().__init__(message)
        self.path = path


class BackendError(AocError, RuntimeError):
    """No inference backend could be created (runtime missing, delegate or model failed)."""


class EdgeTpuUnavailable(BackendError):
    """The Edge TPU cannot be used: libedgetpu missing, no device, or delegate failure."""


class EdgeTpuNotFound(EdgeTpuUnavailable):
    """No Edge TPU is attached at all (nothing was opened, so asking again costs nothing)."""


class InferenceError(AocError, RuntimeError):
    """Running the model on a frame failed."""


class CameraError(AocError, OSError):
    """A frame source could not be opened or stopped delivering frames.

    ``brief``, when given, is the reason in a few words for a summary line
    ("OpenCV not installed"), so no caller has to cut it out of the message. ``screen``,
    when given, names the fault on the panel instead of "camera unavailable" ("no images",
    "video unreadable"): a source that is no camera.
    """

    def __init__(self, message: str, *, brief: str | None = None,
                 screen: str | None = None) -> None:
        super().__init__(message)
        self.brief = brief
        self.screen = screen


class ImageReadError(AocError, OSError):
    """An image file could not be read or decoded."""


class DisplayError(AocError, OSError):
    """A display could not be opened or drawn to."""


class ControlsError(AocError, OSError):
    """Buttons or LED could not be set up."""


class OutputError(AocError, OSError):
    """Standard output or a result file could not be written (a full disk, ``/dev/full``)."""
