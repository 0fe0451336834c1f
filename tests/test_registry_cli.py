"""Registry and CLI behaviour: fast listing without torch, helpful errors, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nvbench import registry
from nvbench.cli import main
from nvbench.errors import UnknownNameError


def test_builtins_come_from_entry_points():
    assert "hnerv" in registry.methods.names()
    assert "reconstruction" in registry.tasks.names()
    assert "bunny" in registry.datasets.names()
    assert registry.methods.plugin("hnerv").entry_point.group == "nvbench.methods"


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownNameError) as exc:
        registry.methods.get("hnrev")
    assert "did you mean 'hnerv'" in str(exc.value)


def test_list_does_not_import_torch():
    code = (
        "import sys, io, contextlib\n"
        "from nvbench.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    rc = main(['list'])\n"
        "assert rc == 0, rc\n"
        "assert 'torch' not in sys.modules, 'nvbench list imported torch'\n"
        "print(buf.getvalue())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "hnerv" in out.stdout and "available" in out.stdout
    assert "bunny" in out.stdout and "reconstruction" in out.stdout


def test_cli_unknown_method_is_one_line_exit_2():
    out = subprocess.run([sys.executable, "-m", "nvbench.cli", "run", "--method", "hnerf", "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "did you mean 'hnerv'" in lines[0]


def test_size_too_small_names_smallest(capsys):
    rc = main(["run", "--method", "hnerv", "--size", "10k", "--dry-run"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "smallest size" in err and "16.52k" in err  # the true floor (the smallest HNeRV)


def test_unknown_option_is_rejected(capsys):
    rc = main(["run", "--method", "hnerv", "--set", "embed_dimm=8", "--dry-run"])
    assert rc == 2
    assert "did you mean 'embed_dim'" in capsys.readouterr().err


def test_dry_run_lists_keys(capsys):
    rc = main(["run", "--method", "hnerv", "--size", "94k,188k", "--seed", "1,2", "--dry-run"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "4 jobs" in out
    keys = [line.split()[0] for line in out.splitlines() if "/reconstruction/" in line]
    assert len(set(keys)) == 4
