"""The appliance's one configuration file: TOML -> frozen, validated dataclasses.

Default path ``/etc/anime-or-cartoon/config.toml`` (``--config`` overrides). A missing
*default* file means all defaults (logged); a missing file named explicitly is an error.
Every key is documented in ``config.example.toml`` next to this module. Validation happens
at load: unknown keys, wrong types, out-of-range values and bad choices raise
:class:`~aoc.errors.ConfigError` naming the dotted key, the bad value and what is allowed.
Command-line overrides (``--set section.key=value``) are applied before validation.
The sections themselves (dataclasses with defaults) live in :mod:`aoc.config_sections`;
import them from there.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_type_hints

from aoc.config_rules import check_rules
from aoc.config_sections import SECTIONS, Config, section_keys
from aoc.errors import ConfigError
from aoc.filecheck import require_regular_file

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "EXAMPLE_CONFIG_PATH",
    "apply_overrides",
    "config_from_dict",
    "load_config",
    "parse_override",
    "read_toml",
]

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/anime-or-cartoon/config.toml")
EXAMPLE_CONFIG_PATH = Path(__file__).with_name("config.example.toml")


def _describe(meta: Mapping[str, Any], kind: str) -> str:
    if meta.get("choices"):
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        return f"{kind} in [{lo}, {hi}]"
    return kind


def _check_value(key: str, value: Any, kind: Any, meta: Mapping[str, Any]) -> Any:
    """Type- and range-check one value; returns it converted (int -> float, list -> tuple)."""
    if kind == tuple[float, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise ConfigError(
                f"{key} = {value!r} must be a non-empty list of numbers "
                f"({_describe(meta, 'each a number')})",
                key=key,
            )
        return tuple(_check_value(key, v, float, meta) for v in value)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if (kind is str and meta.get("integer_as_text") and isinstance(value, int)
            and not isinstance(value, bool)):
        value = str(value)
    ok = (
        isinstance(value, bool) if kind is bool
        else isinstance(value, int) and not isinstance(value, bool) if kind is int
        else isinstance(value, int | float) and not isinstance(value, bool) if kind is float
        else isinstance(value, str)
    )
    if not ok:
        described = _describe(meta, names[kind])
        raise ConfigError(
            f"{key} = {value!r} has the wrong type; it must be {names[kind]}"
            + (f" ({described})" if described != names[kind] else ""),
            key=key,
        )
    if kind is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key} = {value!r} must be a finite number", key=key)
    choices = meta.get("choices") or ()
    if choices and isinstance(value, str) and value not in choices:
        # "debug" for DEBUG, "OLED" for oled: the flags take either case too
        value = next((c for c in choices if str(c).casefold() == value.casefold()), value)
    if choices and value not in choices:
        raise ConfigError(
            f"{key} = {value!r} is not allowed; use one of {', '.join(repr(c) for c in choices)}",
            key=key,
        )
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(
            f"{key} = {value!r} is out of range; use a value in [{lo}, {hi}]", key=key
        )
    return value


def _build_section(name: str, data: Any) -> Any:
    cls = SECTIONS[name]
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"[{name}] must be a table of keys, got {data!r}; write it as a [{name}] section",
            key=name,
        )
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{name}.{key}"
        if key not in fields:
            raise ConfigError(
                f"unknown key {dotted!r}; [{name}] accepts: {', '.join(fields)}", key=dotted
            )
        values[key] = _check_value(dotted, value, hints[key], fields[key].metadata)
    return cls(**values)


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Validate a nested mapping (as parsed from TOML) into a :class:`Config`."""
    for name, value in data.items():
        if name in SECTIONS:
            continue
        if not isinstance(value, Mapping):  # `source = "demo"` above every [section]
            homes = [s for s, keys in section_keys().items() if name in keys]
            where = f"; it belongs under [{homes[0]}]" if homes else ""
            raise ConfigError(
                f"key {name!r} is outside any section{where}; the sections are: "
                f"{', '.join(SECTIONS)}", key=name)
        raise ConfigError(
            f"unknown section [{name}]; the sections are: {', '.join(SECTIONS)}", key=name
        )
    config = Config(**{name: _build_section(name, sec) for name, sec in data.items()})
    check_rules(config)
    return config


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``section.key=value`` into (section, key, value).

    The value is read as a TOML value (``5``, ``0.5``, ``true``, ``"x"``, ``[1, 2]``);
    anything that is not valid TOML is taken as a plain string (``--set camera.source=demo``).
    """
    dotted, sep, raw = text.partition("=")
    section, dot, key = dotted.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ConfigError(
            f"--set {text!r} is not of the form section.key=value (e.g. display.kind=null)",
            key=dotted.strip() or None,
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, key, value


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str | tuple[str, Any]]
                    ) -> dict[str, dict[str, Any]]:
    """A copy of ``data`` with overrides (``"section.key=value"`` or ``("section.key", v)``)."""
    merged: dict[str, dict[str, Any]] = {
        k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()
    }
    for item in overrides:
        if isinstance(item, str):
            section, key, value = parse_override(item)
        else:
            dotted, value = item
            section, _, key = dotted.partition(".")
        table = merged.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] is not a table in the config file", key=section)
        table[key] = value
    return merged


MAX_CONFIG_BYTES = 1024 * 1024
"""A config file is a few KB; anything over 1 MiB is refused rather than parsed."""


_LASTING_READ_ERRORS = frozenset({errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR,
                                  errno.EISDIR, errno.ELOOP, errno.ENAMETOOLONG})
"""Read errors a restart cannot fix (the file's name or permissions): exit 78. Any other
(EIO, ETIMEDOUT, ESTALE, ...) may pass: exit 75, restarted."""


def _read_error(path: Path, exc: OSError) -> ConfigError:
    """The ConfigError for a config file that could not be stat'ed or read: temporary
    unless a restart cannot fix it (:data:`_LASTING_READ_ERRORS`)."""
    if exc.errno in _LASTING_READ_ERRORS:
        return ConfigError(f"cannot read config file {path}: {exc.strerror or exc}; check "
                           "the path and permissions")
    return ConfigError(
        f"cannot read config file {path}: {exc.strerror or exc}; the storage may be "
        "failing or not ready: check it (`dmesg`); the service tries again",
        temporary=True,
    )


def _config_exists(path: Path) -> bool:
    """Whether ``path`` exists; a stat that fails for another reason than its absence
    (EIO of a failing card) is a :func:`_read_error`, not a traceback."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _read_error(path, exc) from exc
    return True


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; errors name the file and the line (or byte offset).

    Only a regular file is read (a FIFO would block start-up forever). The text must be
    UTF-8, as TOML requires; a UTF-8 byte-order mark (written by some Windows editors) is
    accepted and skipped.
    """
    try:
        require_regular_file(path, what="config file", error=ConfigError,
                             fix="pass a TOML file to --config")
    except ConfigError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno not in _LASTING_READ_ERRORS:
            raise _read_error(path, cause) from cause
        raise
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise _read_error(path, exc) from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES // 1024} KiB; it is "
                          "not a config file: pass the right file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"config file {path} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at byte "
            f"offset {exc.start} (line {line}) is not valid UTF-8; save the file as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8`)"
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}; fix the file") from exc


def load_config(
    path: str | Path | None = None,
    *,
    overrides: Iterable[str | tuple[str, Any]] = (),
    default_path: Path = DEFAULT_CONFIG_PATH,
) -> Config:
    """Load, override and validate the configuration.

    ``path=None`` reads ``default_path`` when it exists and otherwise uses the defaults
    (logged at INFO); an explicit ``path`` that does not exist is a :class:`ConfigError`.
    """
    if path is None:
        if _config_exists(default_path):
            data = read_toml(default_path)
            log.info("config: %s", default_path)
        else:
            data = {}
            log.info("config: %s not found, using the built-in defaults", default_path)
    else:
        path = Path(path)
        if not _config_exists(path):
            raise ConfigError(
                f"config file {path} does not exist; pass an existing file to --config or "
                f"copy {EXAMPLE_CONFIG_PATH.name} there"
            )
        data = read_toml(path)
        log.info("config: %s", path)
    return config_from_dict(apply_overrides(data, overrides))
