"""Context-manager plumbing shared by sources, displays and controls."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """``with thing:`` hands back ``thing`` and calls its ``close()`` on the way out."""

    def close(self) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Opening(Closing):
    """Like :class:`Closing`, but ``with thing:`` first calls ``thing.open()``."""

    def open(self) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self
