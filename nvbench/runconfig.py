"""`nvbench run --config bench.toml`: the run's flags in a TOML (or YAML) file.

Keys are the long flag names of `nvbench run` (`method`, `task`, `dataset`, `sequence`, `size`,
`seed`, `preset`, `jobs`, `backend`, `retry-diverged` or `retry_diverged`, ...); a value is a
string, a number, a boolean or a list (for the comma-separated flags). `set` takes a table
{KEY = VALUE}. Flags given on the command line override the file. Pure Python: no torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from nvbench.errors import FormatError, UnknownNameError

#: run flags that make no sense in a file
NOT_IN_CONFIG = {"config", "func", "help", "dry_run"}


def read_config(path: str | Path) -> dict[str, Any]:
    """The file's keys (a top-level [run] table, if present, holds them)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise FormatError(f"cannot read config {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise FormatError(f"{path}: YAML needs PyYAML (pip install pyyaml), or write the config as TOML") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise FormatError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise FormatError(f"{path}: not valid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise FormatError(f"{path}: expected a table of run flags, got {type(data).__name__}")
    if isinstance(data.get("run"), dict) and len(data) == 1:
        data = data["run"]
    return data


def explicit_dests(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations the command line actually set (parsed again with no defaults)."""
    saved = {id(a): (a.default, a.required) for a in parser._actions}
    try:
        for a in parser._actions:
            a.default, a.required = argparse.SUPPRESS, False
        ns, _ = parser.parse_known_args(list(argv))
    finally:
        for a in parser._actions:
            a.default, a.required = saved[id(a)]
    return set(vars(ns))


def _value(action: argparse.Action, key: str, value: Any, path: Path) -> Any:
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise FormatError(f"{path}: {key} must be true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):  # set: a table or a list of KEY=VALUE
        if isinstance(value, dict):  # a list value is the comma-separated form `--set` takes
            return [f"{k}={_set_value(v)}" for k, v in value.items()]
        return [str(v) for v in (value if isinstance(value, list) else [value])]
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if action.type is not None and not isinstance(value, action.type if isinstance(action.type, type) else object):
        try:
            value = action.type(value)
        except (TypeError, ValueError):
            raise FormatError(f"{path}: {key} = {value!r} is not a valid value") from None
    elif action.type is None and not isinstance(value, str):
        value = str(value)
    if action.choices is not None and value not in action.choices:
        raise FormatError(f"{path}: {key} = {value!r}; choose one of {', '.join(map(str, action.choices))}")
    return value


def _set_value(value: Any) -> str:
    """A `set` table value as `--set KEY=VALUE` spells it: lists comma-separated, booleans lower-case."""
    if isinstance(value, (list, tuple)):
        return ",".join(_set_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def apply_config(args: argparse.Namespace, parser: argparse.ArgumentParser, path: str | Path,
                 argv: Sequence[str]) -> argparse.Namespace:
    """Fill `args` from the config file wherever the command line did not set the flag."""
    path = Path(path)
    data = read_config(path)
    actions = {a.dest: a for a in parser._actions if a.dest not in NOT_IN_CONFIG and a.option_strings}
    given = explicit_dests(parser, argv)
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key not in actions:
            raise UnknownNameError(f"key in {path.name}", str(raw_key),
                                   [k.replace("_", "-") for k in actions])
        if key in given:
            continue  # the command line wins
        setattr(args, key, _value(actions[key], str(raw_key), value, path))
    return args
