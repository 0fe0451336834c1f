"""The task protocol (pure Python at import). The context a task runs in lives in
nvbench.context; it is imported here too, so a task plugin imports both from this module."""

from __future__ import annotations

from typing import Any, ClassVar

from nvbench.context import TaskContext
from nvbench.methods import MethodPlugin
from nvbench.records.catalogue import Metric

__all__ = ["Task", "TaskContext"]


class Task:
    """Base class of task plugins."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[dict[str, Any]] = {}
    #: the method must have at least one of these capabilities
    needs_any: ClassVar[frozenset[str]] = frozenset()
    #: whether the task trains a representation (so it needs a size and a recipe)
    trains: ClassVar[bool] = True
    #: option declarations beside the defaults (nvbench/options.py): allowed values, inclusive
    #: (lo, hi) ranges (None = open; list options: each item), item types of list options
    option_choices: ClassVar[dict[str, tuple[Any, ...]]] = {}
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {}
    option_types: ClassVar[dict[str, type]] = {}
    #: columns of the CLI's table for this task (None: nvbench.table.RESULT_COLUMNS): record field
    #: names, whose header and digits come from the metric catalogue (nvbench.records.catalogue) or
    #: nvbench.table.CONTEXT_COLUMNS, or (field, header[, digits]) for the task's own context columns
    table_columns: ClassVar[list[str | tuple[str, str] | tuple[str, str, int]] | None] = None
    #: metrics this task writes beyond the catalogue's built-ins; registered when the class is loaded
    metrics: ClassVar[tuple[Metric, ...]] = ()

    @classmethod
    def coerce_option(cls, key: str, value: Any) -> Any:
        """One `--set KEY=VALUE` for this task: a known key, parsed and checked against its
        declaration (type, range, choices); the runner calls this while expanding jobs."""
        from nvbench.errors import UnknownNameError
        from nvbench.options import check_option

        if key not in cls.options:
            raise UnknownNameError(f"option of task {cls.name}", key, cls.options)
        return check_option(f"task {cls.name}", key, value, cls.options[key], cls.option_choices.get(key),
                            cls.option_ranges.get(key), cls.option_types)

    @classmethod
    def resolve_options(cls, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """The task's defaults updated by validated overrides."""
        opts = dict(cls.options)
        for k, v in (overrides or {}).items():
            opts[k] = cls.coerce_option(k, v)
        return opts

    @classmethod
    def not_applicable(cls, method: type[MethodPlugin]) -> str | None:
        """None when the task can run the method, else the reason it cannot."""
        if cls.needs_any and not (cls.needs_any & method.capabilities):
            return (f"{method.name} has none of the capabilities {cls.name} needs "
                    f"({', '.join(sorted(cls.needs_any))})")
        return None

    def run(self, ctx: TaskContext) -> list[dict[str, Any]]:  # pragma: no cover - interface
        raise NotImplementedError
