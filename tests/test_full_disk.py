"""A full disk is one line, never a SIGBUS or a traceback, and finished results are never lost.
ENOSPC comes from a patched writer; a real 1 MB tmpfs is used only where mounting is allowed."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nvbench.cli import main
from nvbench.errors import NvbenchError


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FullFile:
    """A binary file that takes `room` bytes, then fails as a full disk does."""

    def __init__(self, fh, room: int):
        self.fh, self.room = fh, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise _enospc()
        self.room -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_sequence_writer_on_a_full_disk_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    import builtins

    from nvbench.data import store

    real_open = builtins.open
    monkeypatch.setattr(store, "open", lambda path, mode="r", *a, **k: _FullFile(real_open(path, mode, *a, **k),
                                                                                  20_000), raising=False)
    dest = tmp_path / "ds" / "seq"
    with pytest.raises(NvbenchError) as exc:
        with store.SequenceWriter(dest, 4, 40, 80) as w:
            for _ in range(4):
                w.write(np.zeros((1, 40, 80, 3), np.uint8))
            w.finish({})
    assert "No space left on device" in str(exc.value) and "\n" not in str(exc.value)
    assert not dest.exists() and list((tmp_path / "ds").iterdir()) == []  # the temporary folder is gone


def test_sequence_writer_writes_a_loadable_npy(tmp_path):
    from nvbench.data import store

    frames = np.random.default_rng(0).integers(0, 256, (5, 6, 8, 3), dtype=np.uint8)
    with store.SequenceWriter(tmp_path / "seq", 5, 6, 8, masks=True) as w:
        w.write(frames[:3], np.ones((3, 6, 8), np.uint8))
        w.write(frames[3:], np.zeros((2, 6, 8), np.uint8))
        meta = w.finish({"dataset": "t"})
    assert meta["shape"] == [5, 6, 8, 3]
    np.testing.assert_array_equal(store.open_frames(tmp_path / "seq"), frames)
    assert store.open_masks(tmp_path / "seq").sum() == 3 * 6 * 8


RUN = ["run", "-m", "hnerv", "--preset", "smoke", "--threads", "1", "-q"]


def test_full_disk_while_writing_a_result_keeps_the_finished_ones(tmp_path, capsys, monkeypatch):
    store = tmp_path / "results"
    assert main([*RUN, "--results", str(store)]) == 0
    before = {p.name: p.read_bytes() for p in (store / "jobs").glob("*.json")}
    capsys.readouterr()
    from nvbench import results

    def full(path, payload):
        raise _enospc()

    monkeypatch.setattr(results, "write_json_atomic", full)
    rc = main([*RUN, "--results", str(store), "--seed", "2"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and "No space left on device" in lines[0] and "intact" in lines[0]
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (store / "jobs").glob("*.json")} == before


def test_full_disk_while_saving_the_model_fails_the_job_in_one_line(tmp_path, capsys, monkeypatch):
    torch = pytest.importorskip("torch")

    def full(*a, **k):
        raise _enospc()

    monkeypatch.setattr(torch, "save", full)
    store = tmp_path / "results"
    main([*RUN, "--results", str(store)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    (path,) = (store / "jobs").glob("*.json")
    (rec,) = json.loads(path.read_text())["records"]
    assert rec["status"] == "failed" and "No space left on device" in rec["reason"]


def test_full_disk_before_the_first_job_is_refused_up_front(tmp_path, capsys, monkeypatch):
    store = tmp_path / "results"
    real = os.write

    def full(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(store)):
            raise _enospc()
        return real(fd, data)

    monkeypatch.setattr(os, "write", full)
    rc = main([*RUN, "--results", str(store)])
    err = capsys.readouterr().err
    assert rc == 2 and "No space left on device" in err and len(err.strip().splitlines()) == 1
    assert not list(store.rglob("*.json"))


def _can_mount(folder: Path) -> bool:
    if os.geteuid() != 0:
        return False
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    return rc.returncode == 0


def test_preparing_data_on_a_real_full_tmpfs(tmp_path):
    """The SIGBUS case of the memory-mapped writer: a clip larger than a 1 MB tmpfs."""
    from PIL import Image

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if not _can_mount(mnt):
        pytest.skip("mounting a tmpfs is not allowed here")
    try:
        clip = tmp_path / "clip"
        clip.mkdir()
        rng = np.random.default_rng(0)
        for i in range(20):
            Image.fromarray(rng.integers(0, 256, (120, 240, 3), dtype=np.uint8)).save(clip / f"{i}.png")
        env = {**os.environ, "NVBENCH_DATA": str(mnt), "OMP_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-m", "nvbench.cli", "run", "-m", "x264", "-t", "compression",
                              "-d", str(clip), "--preset", "smoke", "--set", "anchor=", "-q",
                              "--results", str(tmp_path / "r")],
                             capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 2, (out.returncode, out.stderr)  # not -7 (SIGBUS) / 135
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in out.stderr
        assert not [p for p in mnt.rglob("*") if p.is_file()]  # nothing half-written is left
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_full_disk_while_writing_the_report_is_one_line(tmp_path, capsys, monkeypatch):
    store = tmp_path / "results"
    (store / "jobs").mkdir(parents=True)
    from nvbench.report import build

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "rep" / "index.html"))

    monkeypatch.setattr(build, "write_html", full)
    rc = main(["report", "--results", str(store), "-o", str(tmp_path / "rep" / "index.html")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "No space left on device" in err
    assert "Traceback" not in err
