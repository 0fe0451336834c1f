"""The engine's import graph, read from the source with ast (imports inside functions count):
nvbench/ never imports the built-in plugins (representations/), and the task context, the
trainer's cache (nvbench.fit) and the tasks form no circle; each of them imports first in a
fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "nvbench"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def engine_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ENGINE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_engine_never_imports_representations():
    offenders = sorted(f"{module_name(p)} imports {m}" for p in ENGINE.rglob("*.py") for m in imports_of(p)
                       if m == "representations" or m.startswith("representations."))
    assert offenders == []


def _node(module: str) -> str | None:
    """The circle check's node of a module: the tasks package as one node (a task module imports
    the package), fit and the context module each their own; None for the rest of the engine."""
    if module == "nvbench.tasks" or module.startswith("nvbench.tasks."):
        return "nvbench.tasks"
    return module if module in ("nvbench.fit", "nvbench.context") else None


def test_no_circle_between_fit_the_context_and_the_tasks():
    graph = engine_graph()
    # reachability through the whole engine (a circle may pass through other modules)
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach[start] = seen
    edges = {(a, b) for m in graph if (a := _node(m)) for r in reach[m] if (b := _node(r)) and b != a}
    circles = sorted((a, b) for a, b in edges if (b, a) in edges)
    assert circles == [], f"import circle: {circles}"
    # what breaks it: the context imports neither the trainer's cache nor a task; fit imports no task
    assert not {"nvbench.fit", "nvbench.tasks"} & {_node(m) for m in reach["nvbench.context"]}
    assert "nvbench.tasks" not in {_node(m) for m in reach["nvbench.fit"]}
    assert ("nvbench.tasks", "nvbench.fit") in edges  # the tasks do use the trainer (so the check is live)


def test_the_circle_check_sees_a_circle(tmp_path, monkeypatch):
    """The checker itself: a context that imports a task makes a circle."""
    graph = engine_graph()
    graph["nvbench.context"] = graph["nvbench.context"] | {"nvbench.tasks.base"}
    monkeypatch.setattr(sys.modules[__name__], "engine_graph", lambda: graph)
    with pytest.raises(AssertionError, match="import circle"):
        test_no_circle_between_fit_the_context_and_the_tasks()


FIRST = ["nvbench.fit", "nvbench.context", "nvbench.tasks.base", "nvbench.tasks.reconstruction"]


@pytest.mark.parametrize("first", FIRST)
def test_each_module_imports_first_in_a_fresh_interpreter(first):
    rest = [m for m in FIRST + ["nvbench.tasks.compression", "nvbench.tasks.inpainting"] if m != first]
    code = f"import {first}\n" + "".join(f"import {m}\n" for m in rest) + "print('OK')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "OK", out.stderr
