"""Runs in every env, and is the point of the `core` env (torch 2.13.0, no torchvision, no
extras): the core trains and measures, and missing extras show as unavailable, not as crashes."""

from __future__ import annotations

import importlib.util

import pytest

from nvbench import registry
from nvbench.cli import main


def _broken(plugin: registry.Plugin) -> str:
    """Why a plugin counts as broken ("" when it is fine): availability() raised something other
    than a missing declared optional dependency, or gave no reason for being unavailable."""
    ok, reason = plugin.availability()
    if plugin.error is not None:
        return f"{plugin.kind} {plugin.name}: {type(plugin.error).__name__}: {plugin.error}"
    return "" if ok or reason else f"{plugin.kind} {plugin.name}: unavailable without a reason"


def test_built_in_plugins_load_or_miss_only_a_declared_extra():
    """Every plugin nvbench ships loads; where one is unavailable, it is for a declared optional
    dependency (or its own unavailable_reason), never an exception (the core env has no
    compressai and no torchvision on purpose)."""
    built_in = [registry.registry(k).plugin(n) for k in ("method", "task", "dataset")
                for n in registry.registry(k).names() if registry.registry(k).plugin(n).distribution == "nvbench"]
    assert {"hnerv", "x265", "compression", "bunny"} <= {p.name for p in built_in}
    assert [b for b in map(_broken, built_in) if b] == []
    for p in built_in:
        if importlib.util.find_spec("compressai") is None and "compressai" in getattr(p.load(), "requires", ()):
            ok, reason = p.availability()
            assert not ok and "missing compressai" in reason


class _RaisesInside:
    name = "raises-inside"
    requires = ()

    @staticmethod
    def unavailable_reason() -> str:
        raise RuntimeError("a bug, not a missing extra")


class _ImportsUndeclared:
    name = "imports-undeclared"
    requires = ()

    @staticmethod
    def unavailable_reason() -> str:
        import a_module_nobody_declared  # noqa: F401

        return ""


class _ImportsDeclaredButBroken:
    """Its declared extra is installed but fails to import (e.g. built for another torch)."""

    name = "imports-declared"
    requires = ("email",)

    @staticmethod
    def unavailable_reason() -> str:
        import email.not_a_submodule_here  # noqa: F401

        return ""


@pytest.mark.parametrize("value, broken", [
    ("tests.test_core_env:_RaisesInside", True), ("tests.test_core_env:_ImportsUndeclared", True),
    ("tests.a_module_that_does_not_exist:X", True), ("tests.test_core_env:_ImportsDeclaredButBroken", False),
    ("tests.test_core_env:_NeedsMissing", False),
])
def test_the_check_fails_for_a_broken_plugin(value, broken):
    registry.methods.register("fake-plugin", value)
    try:
        plugin = registry.methods.plugin("fake-plugin")
        ok, reason = plugin.availability()
        assert not ok and reason
        assert bool(_broken(plugin)) is broken, (value, reason)
        if not broken:
            assert reason.startswith("missing ")
    finally:
        del registry.methods._scan()["fake-plugin"]


def test_missing_optional_dependency_is_unavailable_with_hint():
    if importlib.util.find_spec("torchvision") is not None:
        # full env: fake a plugin whose dependency is absent
        registry.methods.register("needs-nothing-here", "tests.test_core_env:_NeedsMissing")
        ok, reason = registry.methods.plugin("needs-nothing-here").availability()
        assert not ok and "pip install a-package-that-does-not-exist" in reason
        del registry.methods._scan()["needs-nothing-here"]
    else:
        unavailable = [n for n in registry.methods.names() if not registry.methods.plugin(n).availability()[0]]
        for n in unavailable:
            assert "missing" in registry.methods.plugin(n).availability()[1]


class _NeedsMissing:
    name = "needs-nothing-here"
    requires = ("a_package_that_does_not_exist",)
    install_hint = "pip install a-package-that-does-not-exist"


def test_core_smoke_run(tmp_path):
    rc = main(["run", "--method", "hnerv", "--preset", "smoke", "--epochs", "1", "--results",
               str(tmp_path / "r"), "--quiet"])
    assert rc == 0
    from nvbench.results import load

    df = load(tmp_path / "r")
    assert df.loc[0, "status"] == "ok" and df.loc[0, "psnr"] > 5


_WITHOUT_EXTRAS = r"""
import importlib.abc, importlib.util, sys
BLOCKED = {"compressai", "torchvision"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
_find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in BLOCKED else _find(name, *a)
from tests.test_core_env import test_built_in_plugins_load_or_miss_only_a_declared_extra as check
check()
from nvbench import registry
import json
print(json.dumps(sorted(n for n in registry.methods.names() if not registry.methods.plugin(n).availability()[0])))
"""


def test_built_in_plugins_without_compressai_and_torchvision():
    """The core env's condition in any env: compressai and torchvision made unimportable in a fresh
    interpreter; the built-in check still passes and exactly the CompressAI codecs are unavailable."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    unavailable = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"bmshj2018-factorized", "bmshj2018-hyperprior", "cheng2020-anchor", "mbt2018-mean"} <= set(unavailable)
    assert "hnerv" not in unavailable and "x265" not in unavailable
