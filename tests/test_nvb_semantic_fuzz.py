"""Semantic edits of a valid .nvb header, checksums recomputed: every one is a FormatError before any
large allocation, nothing but a registered plugin is ever imported, and nothing decodes to a
different video."""

from __future__ import annotations

import copy
import sys
import tracemalloc

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nvbench.compress import nvb  # noqa: E402
from nvbench.compress.bounds import OutputLimitError  # noqa: E402
from nvbench.compress.container import read_container, write_container  # noqa: E402
from nvbench.errors import FormatError  # noqa: E402
from representations.hnerv import HNeRVMethod  # noqa: E402

FRAMES = 8


@pytest.fixture(scope="module")
def valid():
    torch.manual_seed(0)
    config = HNeRVMethod.plan(FRAMES, 40, 80, 40_000, {})
    dec = HNeRVMethod.build_decoder(config)
    with torch.no_grad():
        dec.embeddings.normal_(0, 1)
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    data = nvb.encode_decoder(dec.eval(), "hnerv", HNeRVMethod.version, config, bits=6)
    header, sections = read_container(data)
    return data, header, sections, nvb.decode_frames(data)


def _rewrite(header, sections, edit):
    h = copy.deepcopy(header)
    body = [(s["name"], sections[s["name"]]) for s in h.pop("sections")]
    out = edit(h, body)
    if isinstance(out, tuple):
        h, body = out
    return write_container(h, body)


def _tensor(h, i=0):
    return h["tensors"][i]


def _set(path, value):
    def edit(h, body):
        node = h
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return edit


def _both(key, value):
    def edit(h, body):
        h[key] = value
        h["config"][key] = value
    return edit


EVIL_MODULE = "nvb_fuzz_evil_module"

CASES = {
    "frames 1e9 in the header": _set(["frames"], 10**9),
    "frames 1e9 in header and config": _both("frames", 10**9),
    "frames 9 of an 8-frame file": _set(["frames"], 9),
    "frames 9 in header and config": _both("frames", 9),
    "frames 4 (a shortened video)": _set(["frames"], 4),
    "frames 4 in header and config": _both("frames", 4),
    "frames 0": _set(["frames"], 0),
    "frames -1": _set(["frames"], -1),
    "frames true": _set(["frames"], True),
    "frames as a string": _set(["frames"], "8"),
    "frames as a float": _set(["frames"], 8.0),
    "height 1e6 in header and config": _both("height", 10**6),
    "width negative": _set(["width"], -80),
    "huge tensor shape": lambda h, b: _tensor(h).update(shape=[10**9, 10**9]),
    "negative tensor shape": lambda h, b: _tensor(h).update(shape=[-1] + _tensor(h)["shape"][1:]),
    "shape of strings": lambda h, b: _tensor(h).update(shape=["8", "16"]),
    "shape one larger": lambda h, b: _tensor(h).update(shape=[_tensor(h)["shape"][0] + 1] + _tensor(h)["shape"][1:]),
    "unregistered method": _set(["method"], "no-such-method"),
    "module path as method": _set(["method"], f"{EVIL_MODULE}:Plugin"),
    "os:system as method": _set(["method"], "os:system"),
    "dotted path as method": _set(["method"], "representations.hnerv:HNeRVMethod"),
    "method not a string": _set(["method"], ["hnerv"]),
    "empty method": _set(["method"], ""),
    "dtype float64": lambda h, b: _tensor(h).update(dtype="float64"),
    "dtype object": lambda h, b: _tensor(h).update(dtype="object"),
    "dtype missing": lambda h, b: _tensor(h).pop("dtype"),
    "bits 0": lambda h, b: _tensor(h).update(bits=0),
    "bits 64": lambda h, b: _tensor(h).update(bits=64),
    "bits 17": lambda h, b: _tensor(h).update(bits=17),
    "bits -1": lambda h, b: _tensor(h).update(bits=-1),
    "bits 6.5": lambda h, b: _tensor(h).update(bits=6.5),
    "bits true": lambda h, b: _tensor(h).update(bits=True),
    "keep axis out of range": lambda h, b: _tensor(h).update(keep=[7]),
    "coder pickle": _set(["coder"], "pickle"),
    "config not a table": _set(["config"], "hnerv"),
    "config width disagrees": lambda h, b: h["config"].update(width=h["width"] * 2),
    "tensors not a list": _set(["tensors"], {"a": 1}),
    "a tensor listed twice": lambda h, b: h["tensors"].append(dict(h["tensors"][0])),
    "a tensor dropped": lambda h, b: h["tensors"].pop(),
    "sections reordered": lambda h, b: (h, list(reversed(b))),
    "a section dropped": lambda h, b: (h, b[:-1]),
    "an extra section": lambda h, b: (h, b + [("extra", b"\x00" * 16)]),
    "qparams section shortened": lambda h, b: (h, [(n, d[:-8] if n == "qparams" else d) for n, d in b]),
    "raw section lengthened": lambda h, b: (h, [(n, d + b"\x00" * 8 if n == "raw" else d) for n, d in b]),
    "symbols section emptied": lambda h, b: (h, [(n, b"" if n == "symbols" else d) for n, d in b]),
}


@pytest.fixture
def watch(monkeypatch, tmp_path):
    """No module outside the registered plugins is imported, decoding never asks for more frames
    than the file holds, and the numpy allocations stay small."""
    marker = tmp_path / "imported"
    (tmp_path / f"{EVIL_MODULE}.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Plugin: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import nvbench.evaluate as ev

    real = ev.decode_uint8
    asked = []

    def guarded(decode, indices, batch_size=8):
        asked.append(len(indices))
        assert len(indices) <= FRAMES
        return real(decode, indices, batch_size)

    monkeypatch.setattr(ev, "decode_uint8", guarded)
    tracemalloc.start()
    yield marker
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 << 20, f"{peak / 1e6:.0f} MB allocated while refusing a header"
    assert not marker.exists() and EVIL_MODULE not in sys.modules


@pytest.mark.parametrize("case", list(CASES))
def test_semantic_edit_is_refused(valid, watch, case):
    data, header, sections, _ = valid
    bad = _rewrite(header, sections, CASES[case])
    with pytest.raises(FormatError) as exc:
        nvb.decode_frames(bad, max_output_bytes=1 << 30)
    assert "\n" not in str(exc.value)
    with pytest.raises(FormatError):
        nvb.load_decoder(bad)


def test_frames_1e9_is_refused_by_what_the_file_can_hold(valid):
    data, header, sections, _ = valid
    with pytest.raises(OutputLimitError, match="more than they can hold"):
        nvb.decode_frames(_rewrite(header, sections, _both("frames", 10**9)), max_output_bytes=1 << 60)


def test_the_user_limit_refuses_before_decoding(valid, monkeypatch):
    data, _, _, reference = valid
    with pytest.raises(OutputLimitError, match="above the limit"):
        nvb.decode_frames(data, max_output_bytes=reference.nbytes - 1)
    monkeypatch.setenv("NVBENCH_DECODE_LIMIT", str(reference.nbytes - 1))
    with pytest.raises(OutputLimitError):
        nvb.decode_frames(data)
    np.testing.assert_array_equal(nvb.decode_frames(data, max_output_bytes=reference.nbytes), reference)


def test_decode_command_max_output(valid, tmp_path, capsys):
    from nvbench.cli import main

    data, _, _, reference = valid
    f = tmp_path / "x.nvb"
    f.write_bytes(data)
    assert main(["decode", str(f), "-o", str(tmp_path / "out"), "--format", "npy",
                 "--max-output", str(reference.nbytes - 1)]) == 2
    err = capsys.readouterr().err
    assert "above the limit" in err and len(err.strip().splitlines()) == 1
    assert main(["decode", str(f), "-o", str(tmp_path / "out"), "--format", "npy", "--max-output", "nonsense"]) == 2


def _random_edit(rng: np.random.Generator, header: dict) -> dict:
    """One random semantic edit: a number made huge/negative/zero/off by one, a string swapped, a
    field's type changed."""
    h = copy.deepcopy(header)
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k != "sections":
                    walk(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + [i])
        else:
            paths.append(path)

    walk(h, [])
    path = paths[int(rng.integers(len(paths)))]
    node = h
    for k in path[:-1]:
        node = node[k]
    old = node[path[-1]]
    choices = [10**9, -1, 0, 2**63, None, "x", 1.5, True, [1, 2]]
    if isinstance(old, (int, float)) and not isinstance(old, bool):
        choices += [old + 1, old - 1, old * 2]
    if isinstance(old, str):
        choices += ["os:system", old + "x", ""]
    node[path[-1]] = choices[int(rng.integers(len(choices)))]
    return h


def _diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        return "; ".join(filter(None, (_diff(a.get(k), b.get(k), f"{path}.{k}") for k in set(a) | set(b))))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return "; ".join(filter(None, (_diff(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b)))))
    return "" if a == b and type(a) is type(b) else f"{path}: {a!r} -> {b!r}"


def test_random_semantic_edits_never_decode_to_a_different_video(valid, watch):
    data, header, sections, reference = valid
    rng = np.random.default_rng(18)
    outcome = {"rejected": 0, "same": 0, "other bit depth": 0}
    for _ in range(150):
        h = _random_edit(rng, header)
        body = [(s["name"], sections[s["name"]]) for s in header["sections"]]
        h.pop("sections", None)
        try:
            frames = nvb.decode_frames(write_container(h, body), max_output_bytes=1 << 30)
        except FormatError:
            outcome["rejected"] += 1
            continue
        if np.array_equal(frames, reference):
            outcome["same"] += 1  # an edit of a field the decode does not use (e.g. info, writer)
            continue
        # The one edit a header cannot reveal: a tensor's bit depth raised to another legal depth
        # (its symbols still fit the larger alphabet); only a signature could bind it.
        changed = [t for t, u in zip(header["tensors"], h["tensors"]) if t != u] if len(h["tensors"]) == \
            len(header["tensors"]) else []
        legal = len(changed) == 1 and {k for k in changed[0] if changed[0][k] != h["tensors"][
            header["tensors"].index(changed[0])].get(k)} == {"bits"}
        assert legal, f"decoded to a different video: {_diff(header, h)}"
        outcome["other bit depth"] += 1
    assert sum(outcome.values()) == 150 and outcome["rejected"] >= 75, outcome
