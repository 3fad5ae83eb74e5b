"""Which model bundle to run, with a fallback when the configured one is broken.

Order tried: the configured bundle (or bare model + labels) -> the last bundle that worked
(remembered in a small state file) -> the packaged default bundle (``models/default`` in a
source checkout, else ``/usr/share/anime-or-cartoon/models/default``). Each candidate must
both load (manifest, checksums, labels) and open (the runtime accepts the model); a
:class:`~aoc.errors.BundleError` moves on to the next one and is reported, so a corrupt
bundle copied onto the appliance shows an error on screen instead of a dead device.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from aoc.errors import BundleError
from aoc.filecheck import atomic_write_text
from aoc.inference.bundle import Bundle, bare_bundle, load_bundle

log = logging.getLogger(__name__)

T = TypeVar("T")

REPO_DEFAULT_BUNDLE = Path(__file__).resolve().parents[3] / "models" / "default"
SYSTEM_DEFAULT_BUNDLE = Path("/usr/share/anime-or-cartoon/models/default")

CONFIGURED = "configured"
LAST_GOOD = "last good"
DEFAULT = "packaged default"


@dataclass(frozen=True)
class Candidate:
    """One model to try: a bundle folder, or a bare model (``labels`` set)."""

    kind: str
    path: Path
    labels: Path | None = None

    def describe(self) -> str:
        """``configured bundle /x`` / ``packaged default bundle models/default``."""
        what = "model" if self.labels is not None else "bundle"
        return f"{self.kind} {what} {self.path}"


@dataclass
class Selection(Generic[T]):
    """The candidate that worked, what was opened from it and what failed before it."""

    candidate: Candidate
    bundle: Bundle
    opened: T
    errors: list[str] = field(default_factory=list)
    missing: tuple[Candidate, ...] = ()
    """The candidates tried before it whose path did not exist (not merely broken)."""

    def warning(self) -> str | None:
        """A short line for the screen when a fallback happened, else ``None``."""
        if not self.errors:
            return None
        return f"model error - using {self.candidate.kind} model"


def default_bundle_dirs(
    *, repo: Path = REPO_DEFAULT_BUNDLE, system: Path = SYSTEM_DEFAULT_BUNDLE
) -> list[Path]:
    """Where the packaged default bundle may be, first match wins."""
    return [repo, system]


def find_default_bundle(dirs: Sequence[Path] | None = None) -> Path:
    """The first default bundle folder that has a manifest; BundleError if none."""
    dirs = list(dirs) if dirs is not None else default_bundle_dirs()
    for d in dirs:
        if (d / "manifest.json").is_file():
            return d
    raise BundleError(
        "no default model bundle found (looked in "
        + ", ".join(str(d) for d in dirs)
        + "); reinstall the appliance or pass --bundle DIR",
        path=dirs[0] if dirs else None,
    )


MAX_STATE_BYTES = 4096
"""The last-good record is one path; anything bigger is not ours."""


def inspect_last_good(state_file: Path | None) -> tuple[Path | None, str | None]:
    """``(bundle folder, None)`` from a usable record, else ``(None, why not)``.

    ``why`` is ``None`` too when there is simply no record yet. Anything unusable -- not a
    regular file, unreadable, too big, not UTF-8, a NUL byte, several lines, a relative
    path -- is a problem described in ``why``, never an exception.
    """
    if state_file is None:
        return None, None
    try:
        mode = state_file.stat().st_mode
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{state_file} cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(mode):
        return None, f"{state_file} is not a regular file"
    try:
        with open(state_file, "rb") as handle:
            raw = handle.read(MAX_STATE_BYTES + 1)
    except OSError as exc:
        return None, f"{state_file} cannot be read ({exc.strerror or exc})"
    if len(raw) > MAX_STATE_BYTES:
        return None, f"{state_file} is over {MAX_STATE_BYTES} bytes"
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        return None, f"{state_file} is not UTF-8 (byte offset {exc.start})"
    if not text:
        return None, None
    if "\0" in text:
        return None, f"{state_file} contains a NUL byte"
    if "\n" in text or "\r" in text:
        return None, f"{state_file} holds several lines, not one path"
    path = Path(text)
    if not path.is_absolute():
        return None, f"{state_file} holds a relative path {text[:80]!r}"
    return path, None


def read_last_good(state_file: Path | None) -> Path | None:
    """The bundle folder recorded as last good, or ``None``.

    A damaged record means "no last good bundle": one warning naming the file, and the
    appliance goes on (the record is rewritten when a configured bundle next works).
    """
    path, problem = inspect_last_good(state_file)
    if problem is not None:
        log.warning("ignoring the last-good-bundle record: %s; it is rewritten when the "
                    "configured bundle next works (or delete it)", problem)
    return path


def remember_good(state_file: Path | None, candidate: Candidate) -> None:
    """Record a configured bundle that loaded and opened (best effort; never raises).

    The file is written only when its content changes, and atomically (temp file, fsync,
    rename, fsync of the folder): a power cut leaves the old record or the new one.
    """
    if state_file is None or candidate.kind != CONFIGURED or candidate.labels is not None:
        return
    target = candidate.path.resolve()
    current, _ = inspect_last_good(state_file)
    if current == target:
        return  # unchanged: no write, so normal start-ups do not wear the SD card
    try:
        if state_file.exists() and not state_file.is_file():
            log.warning("cannot record the last good bundle: %s is not a regular file; "
                        "remove it", state_file)
            return
        state_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(state_file, f"{target}\n")
    except OSError as exc:
        log.warning("cannot record last good bundle in %s: %s", state_file, exc)


def candidates(
    *,
    bundle: str = "",
    model: str = "",
    labels: str = "",
    last_good: Path | None = None,
    default_dirs: Sequence[Path] | None = None,
) -> list[Candidate]:
    """The ordered, de-duplicated list of models to try.

    ``last_good`` is tried only after a configured bundle or model, never instead of the
    packaged default when nothing is configured.
    """
    out: list[Candidate] = []
    if model:
        out.append(Candidate(CONFIGURED, Path(model), Path(labels) if labels else None))
    elif bundle:
        out.append(Candidate(CONFIGURED, Path(bundle)))
    if last_good is not None and out:
        # Only a fallback for a configured model that fails: with nothing configured the
        # packaged default is what the user asked for.
        out.append(Candidate(LAST_GOOD, last_good))
    dirs = list(default_dirs) if default_dirs is not None else default_bundle_dirs()
    try:
        out.append(Candidate(DEFAULT, find_default_bundle(dirs)))
    except BundleError as exc:
        log.debug("%s", exc)
    seen: set[Path] = set()
    unique: list[Candidate] = []
    for c in out:
        key = c.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def load_candidate(candidate: Candidate) -> Bundle:
    """Load (and verify) one candidate."""
    if candidate.labels is not None:
        return bare_bundle(candidate.path, candidate.labels)
    return load_bundle(candidate.path)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a share that does not answer: not there for now
        return False


def select(
    cands: Sequence[Candidate],
    opener: Callable[[Bundle], T],
    *,
    fallback: bool = True,
    state_file: Path | None = None,
) -> Selection[T]:
    """Load and open the first candidate that works.

    ``opener`` turns a bundle into the thing to run (a classifier); a BundleError from
    loading or opening moves on to the next candidate when ``fallback`` is true. Raises the
    first BundleError when nothing works (or ``fallback`` is false), with every failure
    named in the message.
    """
    if not cands:
        raise BundleError(
            "no model to run: no bundle configured and no packaged default found; "
            "pass --bundle DIR or reinstall the appliance"
        )
    errors: list[str] = []
    missing: list[Candidate] = []
    first: BundleError | None = None
    for cand in cands if fallback else cands[:1]:
        try:
            bundle = load_candidate(cand)
            opened = opener(bundle)
        except BundleError as exc:
            first = first or exc
            errors.append(f"{cand.describe()}: {exc}")
            log.error("%s is unusable: %s", cand.describe(), exc)
            if not _exists(cand.path):
                missing.append(cand)
            continue
        if errors:
            log.warning("running the %s instead", cand.describe())
        remember_good(state_file, cand)
        return Selection(cand, bundle, opened, errors, tuple(missing))
    if first is None:  # pragma: no cover - the loop ran at least once
        raise BundleError("no model could be opened")
    if len(errors) == 1:
        raise first
    raise BundleError("no usable model: " + " | ".join(errors), path=first.path) from first
