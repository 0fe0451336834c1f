"""Lazy plugin registries filled from entry points.

Names come from installed entry-point metadata only; a plugin module is imported the first
time its class is asked for. Listing therefore never imports torch or a method module.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from nvbench.errors import UnavailableError, UnknownNameError

GROUPS = {"method": "nvbench.methods", "task": "nvbench.tasks", "dataset": "nvbench.datasets"}


@dataclass
class Plugin:
    """One registered name: where it lives and, once loaded, its class."""

    kind: str
    name: str
    entry_point: EntryPoint
    _obj: Any = field(default=None, repr=False)
    error: BaseException | None = field(default=None, repr=False)  # set by availability() when broken

    @property
    def module(self) -> str:
        return self.entry_point.value.split(":")[0]

    @property
    def distribution(self) -> str:
        dist = getattr(self.entry_point, "dist", None)
        return dist.name if dist is not None else "?"

    def load(self) -> Any:
        """The plugin's class; the first load registers the metrics it declares (`metrics`) in the
        catalogue (nvbench.records.catalogue), so its records show wherever metrics are shown."""
        if self._obj is None:
            from nvbench.records.catalogue import register_declared

            obj = self.entry_point.load()
            register_declared(obj)
            self._obj = obj
        return self._obj

    def missing_requirements(self) -> list[str]:
        """Import names this plugin declares in `requires` that cannot be found here."""
        obj = self.load()
        return [m for m in getattr(obj, "requires", ()) if importlib.util.find_spec(m) is None]

    def _declared_missing(self, exc: BaseException) -> str | None:
        """The name of a declared requirement that `exc` (an ImportError) failed to import, else None."""
        name = getattr(exc, "name", None)
        declared = {r.split(".")[0] for r in getattr(self._obj, "requires", ())} if self._obj is not None else set()
        if isinstance(exc, ImportError) and name and name.split(".")[0] in declared:
            return name
        return None

    def availability(self) -> tuple[bool, str]:
        """(available, reason). Loading the plugin class is cheap: plugins keep torch out of
        module import (heavy code lives in modules imported by `build`). A missing declared
        optional dependency (in `requires`, or an ImportError of one) is a reason; any other
        exception is a reason too — a broken third-party plugin must not break `nvbench list` —
        and is kept in `self.error`, so tests can tell a broken plugin from a missing extra."""
        self.error = None
        try:
            missing = self.missing_requirements()
            if missing:
                hint = getattr(self.load(), "install_hint", "") or f"pip install {' '.join(missing)}"
                return False, f"missing {', '.join(missing)} ({hint})"
            extra = getattr(self.load(), "unavailable_reason", None)
            reason = extra() if callable(extra) else None
        except Exception as exc:
            name = self._declared_missing(exc)
            if name:
                hint = getattr(self._obj, "install_hint", "") or f"pip install {name}"
                return False, f"missing {name} ({hint})"
            self.error = exc
            return False, f"failed to load: {type(exc).__name__}: {exc}"
        return (False, reason) if reason else (True, "")


class Registry:
    """Plugins of one kind (method, task or dataset)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._plugins: dict[str, Plugin] | None = None

    def _scan(self) -> dict[str, Plugin]:
        if self._plugins is None:
            found: dict[str, Plugin] = {}
            for ep in entry_points(group=GROUPS[self.kind]):
                found.setdefault(ep.name, Plugin(self.kind, ep.name, ep))
            self._plugins = found
        return self._plugins

    def names(self) -> list[str]:
        return sorted(self._scan())

    def plugin(self, name: str) -> Plugin:
        plugins = self._scan()
        if name not in plugins:
            raise UnknownNameError(self.kind, name, plugins)
        return plugins[name]

    def get(self, name: str) -> Any:
        """The plugin's class; raises UnavailableError when an optional dependency is missing."""
        plugin = self.plugin(name)
        ok, reason = plugin.availability()
        if not ok:
            raise UnavailableError(f"{self.kind} {name!r} is unavailable here: {reason}")
        return plugin.load()

    def entries(self) -> dict[str, str]:
        """name -> 'module:attr' of every plugin known here (entry points and `register`ed ones),
        so worker processes can recreate the same registry."""
        return {name: p.entry_point.value for name, p in self._scan().items()}

    def register(self, name: str, value: str) -> None:
        """Add a plugin by 'module:attr' (for tests and notebooks; packages use entry points)."""
        self._scan()[name] = Plugin(self.kind, name, EntryPoint(name, value, GROUPS[self.kind]))


methods = Registry("method")
tasks = Registry("task")
datasets = Registry("dataset")


def registry(kind: str) -> Registry:
    return {"method": methods, "task": tasks, "dataset": datasets}[kind]


def import_object(path: str) -> Any:
    module, _, attr = path.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj
