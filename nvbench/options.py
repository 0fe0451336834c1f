"""Option declarations of methods and tasks, and the one check every option value passes.

A plugin declares, beside each default in `options`:

    option_choices = {"pipeline": ("own", "shared")}          # allowed values (list options: each item)
    option_ranges = {"bits": (1, 16), "reduce": (1.0, None)}   # inclusive (lo, hi), None = open
    option_types = {"lambdas": float}                          # item type of a list option

The type of an option is its default's (the item type of a list option is `option_types[key]`,
else the type of the default's first item); float values must be finite. The same declaration
serves `--set KEY=VALUE`, `set = {...}` in a --config file, the Python API and the docs
(`describe`). Strings from the command line are parsed; values that already have the right type
are returned unchanged, so the keys of jobs that were valid before stay the same. Pure Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nvbench.errors import NvbenchError

Range = tuple[float | int | None, float | int | None]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class OptionError(NvbenchError):
    """An option value outside its declared type, range or choices (the message says what is allowed)."""


def item_type(key: str, default: Any, types: Mapping[str, type]) -> type | None:
    """The type of one item of a list option (None: undeclared and the default is empty)."""
    if key in types:
        return types[key]
    if isinstance(default, (list, tuple)) and default:
        return type(default[0])
    return None


def describe(key: str, default: Any, choices: Sequence[Any] | None = None, rng: Range | None = None,
             types: Mapping[str, type] | None = None) -> str:
    """What an option allows, in words: 'integers 1..16, comma-separated', 'one of own, shared'."""
    is_list = isinstance(default, (list, tuple))
    typ = item_type(key, default, types or {}) if is_list else (type(default) if default is not None else None)
    if choices:
        text = f"one of {', '.join(str(c) for c in choices)}"
    elif typ is bool:
        text = "true or false"
    elif typ in (int, float):
        noun = "an integer" if typ is int else "a finite number"
        lo, hi = rng if rng else (None, None)
        if lo is not None and hi is not None:
            text = f"{noun} in {lo}..{hi}"
        elif lo is not None:
            text = f"{noun} >= {lo}"
        elif hi is not None:
            text = f"{noun} <= {hi}"
        else:
            text = noun
    elif typ is str:
        text = "a string"
    else:
        text = "a value like " + repr(default)
    return f"a comma-separated list, each {text}" if is_list else text


def _scalar(raw: Any, typ: type | None) -> Any:
    """One value converted to `typ` (ValueError when it is not one)."""
    if typ is None:
        return raw
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
            return raw.strip().lower() in _TRUE
        raise ValueError(raw)
    if typ is int:
        if isinstance(raw, bool):
            raise ValueError(raw)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str):
            return int(raw.strip())
        raise ValueError(raw)
    if typ is float:
        if isinstance(raw, bool):
            raise ValueError(raw)
        value = raw if isinstance(raw, (int, float)) else float(str(raw).strip())
        if not math.isfinite(value):
            raise ValueError(raw)
        return value
    if typ is str:
        if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
            return raw  # a number for a word option (e.g. an encoder preset "8") stays as given
        raise ValueError(raw)
    return raw


def _in_range(value: Any, rng: Range | None) -> bool:
    if rng is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return True
    lo, hi = rng
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def check_option(owner: str, key: str, value: Any, default: Any, choices: Sequence[Any] | None = None,
                 rng: Range | None = None, types: Mapping[str, type] | None = None) -> Any:
    """`value` of option `key` of `owner`, parsed when it is a string and checked against the
    declaration; anything else raises OptionError naming the option, the value and what is allowed."""
    types = types or {}

    def fail() -> OptionError:
        return OptionError(f"{owner}: {key}={value!r} is not {describe(key, default, choices, rng, types)}")

    if isinstance(default, (list, tuple)):
        typ = item_type(key, default, types)
        if isinstance(value, str):
            parts = [v for v in value.replace("_", ",").split(",") if v.strip()] if typ is not str else \
                [v for v in value.split(",") if v.strip()]
            try:
                items = [_scalar(v, typ) for v in parts]
            except ValueError:
                raise fail() from None
            out: Any = type(default)(items)
        elif isinstance(value, (list, tuple)):
            try:
                items = [_scalar(v, typ) for v in value]
            except ValueError:
                raise fail() from None
            out = value if list(items) == list(value) and all(type(a) is type(b) for a, b in zip(items, value)) \
                else type(value)(items)
        else:
            raise fail()
        if any(not _in_range(v, rng) for v in items) or (choices and any(v not in choices for v in items)):
            raise fail()
        return out
    if default is None:
        return value
    try:
        out = _scalar(value, type(default))
    except ValueError:
        raise fail() from None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and type(default) is float:
        out = value  # a number given as a number keeps its type (and the job key it had)
    if not _in_range(out, rng) or (choices and out not in choices):
        if choices and isinstance(out, str):
            import difflib

            close = difflib.get_close_matches(out, [str(c) for c in choices], n=1, cutoff=0.4)
            if close:
                raise OptionError(f"{fail()}; did you mean {close[0]!r}?") from None
        raise fail()
    return out


def undeclared(options: Mapping[str, Any], choices: Mapping[str, Any], ranges: Mapping[str, Any],
               types: Mapping[str, type]) -> list[str]:
    """Options whose declaration is incomplete: a number without a range, a list option whose
    item type is unknown (empty default, no option_types entry)."""
    missing = []
    for key, default in options.items():
        if isinstance(default, (list, tuple)):
            typ = item_type(key, default, types)
            if typ is None:
                missing.append(f"{key} (list: no item type)")
            elif typ in (int, float) and key not in ranges and key not in choices:
                missing.append(f"{key} (no range)")
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if key not in ranges and key not in choices:
                missing.append(f"{key} (no range)")
    return missing
