"""Errors of the training package; all derive from :class:`aoc.errors.AocError`."""

from __future__ import annotations

from aoc.errors import AocError


class TrainError(AocError, RuntimeError):
    """A training stage failed; the message names the stage, file and what to do."""


class DataError(TrainError, ValueError):
    """The data folder, its manifest or a split request is unusable."""


class ExportError(TrainError):
    """Converting the model to TFLite failed or produced something the device cannot use."""


class DegenerateModelError(TrainError, ValueError):
    """A trained model is unusable (constant outputs, or a class at or below chance on
    held-out images); no bundle is written. ``check`` is the
    :class:`aoc_train.quality.QualityCheck` that found it, when there is one."""

    def __init__(self, message: str, *, check: object | None = None) -> None:
        super().__init__(message)
        self.check = check


class MissingTrainExtraError(TrainError, ImportError):
    """The Keras recipe (``--backbone mobilenet-v2``) needs TensorFlow, the train extra."""
