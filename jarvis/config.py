"""One way to load a program's configuration, for the server and the shipper alike.

A configuration is a frozen dataclass whose fields name, in their metadata, the environment
variables that set them (``env_field``). Precedence, lowest to highest: the field defaults, a
TOML file (one section of it), the environment, then explicit overrides (command-line
options). Every value is coerced to the field's type once, at start-up, and the origin of
each is kept (``Origin``): an error names where the bad value came from (the file and key,
the variable, or the option), and ``jarvis config check`` shows it.

A settings class checks its values in ``__post_init__`` by raising ``InvalidSetting`` with the
field's name; ``load_config`` rewords it with the value's origin.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ByteSize(int):
    """A number of bytes, written as a plain count or with a unit: ``100MB``, ``64 KiB``,
    ``1g``. KB, MB, GB are powers of 1000; KiB, MiB, GiB and the bare K, M, G (logrotate's
    ``100M``) powers of 1024."""

    _UNITS: ClassVar[dict[str, int]] = {
        "": 1,
        "b": 1,
        "kb": 1000,
        "mb": 1000**2,
        "gb": 1000**3,
        "k": 1024,
        "m": 1024**2,
        "g": 1024**3,
        "kib": 1024,
        "mib": 1024**2,
        "gib": 1024**3,
    }
    _PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")

    @classmethod
    def parse(cls, raw: object) -> ByteSize:
        """The size ``raw`` names; ValueError when it is not a size."""
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError(raw)
        if isinstance(raw, int):
            return cls(raw)
        match = cls._PATTERN.fullmatch(raw)
        if match is None or match.group(2).lower() not in cls._UNITS:
            raise ValueError(raw)
        count = float(match.group(1)) * cls._UNITS[match.group(2).lower()]
        if not count.is_integer():
            raise ValueError(raw)
        return cls(int(count))


def size_text(count: int) -> str:
    """``104857600`` as ``100MiB``, ``65536`` as ``64KiB``: the largest binary unit that fits."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count and count % factor == 0:
            return f"{count // factor}{unit}"
    return str(count)


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message says which and where from."""


class InvalidSetting(SettingsError):
    """A value of the right type that setting ``name`` cannot take: ``problem`` says why
    (``"must be positive"``). ``load_config`` names where the value came from instead."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name} {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from: its default, a config file's key, an environment
    variable, or a command-line option (``name`` says which file and key, variable, option)."""

    kind: Literal["default", "file", "env", "flag"]
    name: str = ""

    def __str__(self) -> str:
        """As an error message names it: ``JARVIS_PORT``, ``--port``, ``jarvis.toml: port``."""
        return self.name or "the default"

    @property
    def shown(self) -> str:
        """As ``config check`` shows it: ``default``, ``env JARVIS_PORT``, ``flag --port``..."""
        return self.kind if self.kind == "default" else f"{self.kind} {self.name}"


DEFAULT = Origin("default")


@dataclass(frozen=True)
class Resolved(Generic[T]):
    """Settings and the origin of each field's value (``Origin("default")`` when unset)."""

    settings: T
    origins: Mapping[str, Origin]


def env_field(
    *names: str, default: Any = dataclasses.MISSING, secret: bool = False, **kwargs: Any
) -> Any:
    """A dataclass field set by the environment variables ``names`` (the last one set wins).

    A ``secret`` one (a password, an API key) is never shown, in an error or by a check.
    """
    return field(default=default, metadata={"env": names, "secret": secret}, **kwargs)


def env_names(f: dataclasses.Field[Any]) -> tuple[str, ...]:
    return tuple(f.metadata.get("env", ()))


def is_secret(f: dataclasses.Field[Any]) -> bool:
    return bool(f.metadata.get("secret", False))


def variables_of(cls: type, name: str) -> str:
    """The environment variables setting field ``name`` of ``cls``, the winning one first:
    what an error message or a help text tells a user to set."""
    field_ = next(f for f in dataclasses.fields(cls) if f.name == name)
    return " or ".join(reversed(env_names(field_)))


def shown_value(value: Any, *, secret: bool = False) -> str:
    """``value`` as it may be printed: a secret as ``***`` (or nothing when unset), and the
    password of any URL in it masked (``redis://:***@redis:6379``)."""
    if secret:
        return "***" if value not in ("", None) else ""
    text = value if isinstance(value, str) else str(value)
    # Each URL of a list separated by commas or spaces.
    return "".join(_without_password(part) for part in re.split(r"([\s,]+)", text))


def _without_password(url: str) -> str:
    """``scheme://user:***@host`` for ``scheme://user:password@host``; ``***@host`` for a
    ``token@host``. Everything up to the last ``@``, an unescaped one may be in a password."""
    scheme, separator, rest = url.rpartition("://")
    if "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{separator}{user + ':***' if colon else '***'}@{host}"


def load_config(
    cls: type[T],
    *,
    section: str,
    config_file: str | Path | None,
    default_file: Path | None = None,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
    option_names: Mapping[str, str] | None = None,
    config_named_by: str = "--config",
) -> T:
    """Build ``cls`` from defaults < ``[section]`` of the TOML file < environment < overrides.

    ``config_file`` is the file the user named (an error when it does not exist), by
    ``config_named_by`` (``--config`` or a variable); ``default_file`` is read only when it
    exists. ``None`` overrides are ignored. ``option_names`` maps field names to the
    command-line options that override them, for error messages.
    """
    return resolve_config(
        cls,
        section=section,
        config_file=config_file,
        default_file=default_file,
        environ=environ,
        overrides=overrides,
        option_names=option_names,
        config_named_by=config_named_by,
    ).settings


def resolve_config(
    cls: type[T],
    *,
    section: str,
    config_file: str | Path | None,
    default_file: Path | None = None,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
    option_names: Mapping[str, str] | None = None,
    config_named_by: str = "--config",
) -> Resolved[T]:
    """What ``load_config`` builds, with where each value came from."""
    values: dict[str, Any] = {}
    given: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)

    def take(name: str, raw: Any, origin: Origin) -> None:
        values[name] = coerce(hints[name], raw, str(origin))
        given[name], origins[name] = raw, origin

    path = Path(config_file) if config_file else default_file
    if path is not None and (config_file or path.is_file()):
        named_by = config_named_by if config_file else None
        table, sectioned = read_toml_section(path, section, named_by)
        for name, raw in table.items():
            if name not in fields or not fields[name].init:
                known = ", ".join(sorted(n for n, f in fields.items() if f.init))
                raise SettingsError(f"{path}: unknown setting {name!r} in [{section}] ({known})")
            key = f"[{section}] {name}" if sectioned else name
            take(name, raw, Origin("file", f"{path}: {key}"))
    for name, f in fields.items():
        for variable in env_names(f):
            raw = environ.get(variable)
            if raw is not None and raw != "":
                take(name, raw, Origin("env", variable))
    for name, raw in (overrides or {}).items():
        if raw is not None:
            take(name, raw, Origin("flag", (option_names or {}).get(name, name)))
    try:
        settings = cls(**values)
    except InvalidSetting as error:
        origin = origins.get(error.name, DEFAULT)
        if origin is DEFAULT:
            raise SettingsError(f"{error.name} (default) {error.problem}") from None
        got = shown_value(given[error.name], secret=is_secret(fields[error.name]))
        raise SettingsError(
            f"{origin} {error.problem}" + (f", got {got!r}" if got else "")
        ) from None
    except SettingsError:
        raise
    except (TypeError, ValueError) as error:
        raise SettingsError(str(error)) from None
    defaults = {name: DEFAULT for name, f in fields.items() if f.init}
    return Resolved(settings, {**defaults, **origins})


def read_toml_section(
    path: Path, section: str, named_by: str | None = None
) -> tuple[dict[str, Any], bool]:
    """The ``[section]`` table of a TOML file (the whole file when it has no sections), and
    whether the file has that section. ``named_by`` is the option or variable that named the
    file, for error messages."""
    shown = f"config file {path}" + (f" (from {named_by})" if named_by else "")
    try:
        with path.open("rb") as stream:
            document = tomllib.load(stream)
    except FileNotFoundError:
        raise SettingsError(f"{shown} does not exist") from None
    except OSError as error:
        raise SettingsError(f"{shown}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{shown} is not valid TOML: {error}") from None
    if section in document:
        table = document[section]
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: [{section}] must be a table")
        return dict(table), True
    # A file without sections is one program's settings; other programs' sections are skipped.
    return {k: v for k, v in document.items() if not isinstance(v, dict)}, False


def coerce(kind: Any, raw: Any, where: str) -> Any:
    """``raw`` (text from the environment, or a TOML value) as a value of type ``kind``."""
    optional = False
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        members = [k for k in typing.get_args(kind) if k is not type(None)]
        optional = len(members) < len(typing.get_args(kind))
        kind = members[0]
    if optional and (raw is None or raw == ""):
        return None
    try:
        if kind is bool:
            return _boolean(raw)
        if kind is ByteSize:
            return ByteSize.parse(raw)
        if kind is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(raw)
        if kind is float:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if kind is Path:
            return Path(str(raw))
        if kind is str:
            if not isinstance(raw, str | int | float) or isinstance(raw, bool):
                raise ValueError(raw)
            return str(raw)
        return kind(raw)
    except (TypeError, ValueError):
        expected = {
            bool: "true or false",
            int: "an integer",
            float: "a number",
            ByteSize: "a size such as 1048576, 100MB or 64KiB",
        }.get(kind, getattr(kind, "__name__", str(kind)))
        raise SettingsError(f"{where} expects {expected}, got {raw!r}") from None


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(raw)
