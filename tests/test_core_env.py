"""Runs in every env, and is the point of the `core` env (torch 2.13.0, no torchvision, no
extras): the core trains and measures, and missing extras show as unavailable, not as crashes."""

from __future__ import annotations

import importlib.util

from nvbench import registry
from nvbench.cli import main


def test_every_plugin_lists_without_crashing():
    for kind in ("method", "task", "dataset"):
        reg = registry.registry(kind)
        for name in reg.names():
            ok, reason = reg.plugin(name).availability()
            assert ok or reason, (kind, name)


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
