"""Retaining freed host memory: the page faults it removes are counted (not timed), in fresh
processes with and without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nvbench import hostmem

SCRIPT = r"""
import json, resource, sys
from nvbench.hostmem import retain_freed_memory
setting = retain_freed_memory()
import torch
torch.set_num_threads(1)
conv = torch.nn.Conv2d(12, 48, 3, padding=1)
x = torch.randn(4, 12, 80, 160)  # outputs of ~10 MB per call, as a decoder's activations
with torch.inference_mode():
    for _ in range(3):
        conv(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        conv(x)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
print(json.dumps({"setting": setting, "faults": faults}))
"""


def run(env_value: str) -> dict:
    env = {**os.environ, "NVBENCH_RETAIN_HOST_MEMORY": env_value}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_retained_heap_removes_the_page_faults_of_large_activations():
    default, kept = run("0"), run("1")
    assert default["setting"].startswith("default")
    assert kept["setting"].startswith("glibc heap retained")
    # ~10 MB of fresh pages per call with glibc's defaults (2,400+ faults of 4 KiB), none kept
    assert default["faults"] > 1000
    assert kept["faults"] < default["faults"] / 20


def test_setting_is_recorded_once_per_process(monkeypatch):
    monkeypatch.setattr(hostmem, "_state", {})
    monkeypatch.setenv("NVBENCH_RETAIN_HOST_MEMORY", "0")
    assert hostmem.retain_freed_memory() == "default (NVBENCH_RETAIN_HOST_MEMORY=0)"
    monkeypatch.setenv("NVBENCH_RETAIN_HOST_MEMORY", "1")
    assert hostmem.retain_freed_memory().startswith("default")  # decided once
    assert hostmem.current_setting() == "default (NVBENCH_RETAIN_HOST_MEMORY=0)"


def test_provenance_records_the_allocator_setting():
    from nvbench.provenance import environment

    assert environment("cpu")["host_allocator"] == hostmem.current_setting()
