"""Entropy coders for the integer symbols of quantised tensors.

`huffman`: one canonical Huffman codebook over all symbols (weights and embeddings together),
as HNeRV's code does with dahuffman; the codebook (code lengths) is stored in the file.
`range`: constriction's range coder (a maintained Rust library) with stored, quantised
histograms: one per bit depth, plus an own histogram for each tensor where that pays for its
table. Both return (tables, payload) bytes; decoding needs those and the symbol counts.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

import numpy as np

CODERS = ("range", "huffman")
MAX_CODE_LENGTH = 20  # Huffman codes are length-limited so the decoder's lookup table stays small
HIST_TOTAL = 1 << 12  # histograms are stored scaled to about this total


class EntropyError(ValueError):
    """Coded data that does not decode (the container turns this into a FormatError)."""


# --- varints (LEB128) ------------------------------------------------------------------------
def put_varint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError("varint must be >= 0")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def get_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise EntropyError("table ends inside a number")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise EntropyError("number in table too long")


# --- canonical Huffman -------------------------------------------------------------------------
def huffman_lengths(counts: np.ndarray, max_len: int = MAX_CODE_LENGTH) -> np.ndarray:
    """Code length per symbol (0 for unused symbols); halves the counts until the longest code
    fits `max_len` (rarely needed, costs almost nothing)."""
    counts = np.asarray(counts, np.int64).copy()
    used = np.flatnonzero(counts)
    lengths = np.zeros(len(counts), np.int64)
    if len(used) == 0:
        return lengths
    if len(used) == 1:
        lengths[used[0]] = 1
        return lengths
    while True:
        heap = [(int(counts[s]), i, [int(s)]) for i, s in enumerate(used)]
        heapq.heapify(heap)
        depth = {int(s): 0 for s in used}
        tick = len(heap)
        while len(heap) > 1:
            c1, _, s1 = heapq.heappop(heap)
            c2, _, s2 = heapq.heappop(heap)
            for s in s1 + s2:
                depth[s] += 1
            heapq.heappush(heap, (c1 + c2, tick, s1 + s2))
            tick += 1
        if max(depth.values()) <= max_len:
            for s, d in depth.items():
                lengths[s] = d
            return lengths
        counts[used] = np.maximum(1, counts[used] // 2)


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code values: shorter codes first, ties by symbol value."""
    lengths = np.asarray(lengths, np.int64)
    codes = np.zeros(len(lengths), np.int64)
    order = sorted((int(lengths[s]), s) for s in np.flatnonzero(lengths))
    code, prev = 0, 0
    for length, s in order:
        code <<= length - prev
        codes[s] = code
        code += 1
        prev = length
    return codes


def _check_kraft(lengths: np.ndarray) -> None:
    used = lengths[lengths > 0]
    if len(used) == 0:
        return
    if used.max() > MAX_CODE_LENGTH or sum(2.0 ** -int(x) for x in used) > 1.0 + 1e-12:
        raise EntropyError("Huffman code lengths do not form a prefix code")


def huffman_encode(symbols: np.ndarray, lengths: np.ndarray) -> bytes:
    symbols = np.asarray(symbols, np.int64)
    if symbols.size == 0:
        return b""
    codes = canonical_codes(lengths)
    sl, sc = lengths[symbols], codes[symbols]
    if np.any(sl == 0):
        raise ValueError("symbol without a code")
    ends = np.cumsum(sl)
    starts = ends - sl
    bits = np.zeros(int(ends[-1]), np.uint8)
    for length in np.unique(sl):
        sel = np.flatnonzero(sl == length)
        j = np.arange(length)
        b = (sc[sel, None] >> (length - 1 - j)) & 1
        bits[starts[sel, None] + j] = b
    return np.packbits(bits).tobytes()


def huffman_decode(data: bytes, lengths: np.ndarray, count: int) -> np.ndarray:
    """Decode `count` symbols with a lookup table of 2^max_len entries."""
    lengths = np.asarray(lengths, np.int64)
    _check_kraft(lengths)
    if count == 0:
        if data:
            raise EntropyError("unexpected coded bits")
        return np.zeros(0, np.int64)
    used = np.flatnonzero(lengths)
    if len(used) == 0:
        raise EntropyError("empty Huffman table")
    L = int(lengths.max())
    codes = canonical_codes(lengths)
    sym_table = np.full(1 << L, -1, np.int64)
    len_table = np.zeros(1 << L, np.int64)
    for s in used:
        l = int(lengths[s])
        lo = int(codes[s]) << (L - l)
        sym_table[lo : lo + (1 << (L - l))] = s
        len_table[lo : lo + (1 << (L - l))] = l
    bits = np.unpackbits(np.frombuffer(data, np.uint8)).astype(np.int64)
    nbits = len(bits)
    padded = np.concatenate([bits, np.zeros(L, np.int64)])
    window = np.zeros(nbits + 1, np.int64)
    for j in range(L):
        window = (window << 1) | padded[j : j + nbits + 1]
    win = window.tolist()
    st, lt = sym_table.tolist(), len_table.tolist()
    out = [0] * count
    pos = 0
    for i in range(count):
        if pos >= nbits:
            raise EntropyError("coded symbols end early")
        w = win[pos]
        s = st[w]
        if s < 0:
            raise EntropyError("invalid Huffman code")
        out[i] = s
        pos += lt[w]
    if pos > nbits or (nbits - pos) >= 8 or bits[pos:].any():
        raise EntropyError("coded symbols do not end where expected")
    return np.asarray(out, np.int64)


def encode_huffman(streams: Sequence[np.ndarray], alphabet: int) -> tuple[bytes, bytes]:
    allsym = np.concatenate([np.asarray(s, np.int64).ravel() for s in streams]) if streams else np.zeros(0, np.int64)
    counts = np.bincount(allsym, minlength=alphabet)
    lengths = huffman_lengths(counts)
    table = bytearray()
    put_varint(table, alphabet)
    table += bytes(int(x) for x in lengths)
    return bytes(table), huffman_encode(allsym, lengths)


def decode_huffman(tables: bytes, payload: bytes, sizes: Sequence[int], alphabets: Sequence[int]) -> list[np.ndarray]:
    alphabet, pos = get_varint(tables, 0)
    if alphabet > (1 << 16) or pos + alphabet != len(tables):
        raise EntropyError("Huffman table has the wrong length")
    lengths = np.frombuffer(tables[pos:], np.uint8).astype(np.int64)
    if sum(sizes) > 8 * len(payload):  # every Huffman code is at least one bit
        raise EntropyError(f"{sum(sizes)} symbols cannot fit in {len(payload)} bytes")
    allsym = huffman_decode(payload, lengths, int(sum(sizes)))
    return _split(allsym, sizes, alphabets)


def _split(allsym: np.ndarray, sizes: Sequence[int], alphabets: Sequence[int]) -> list[np.ndarray]:
    out, start = [], 0
    for n, k in zip(sizes, alphabets):
        part = allsym[start : start + n]
        if part.size and int(part.max()) >= k:
            raise EntropyError("decoded symbol outside the tensor's alphabet")
        out.append(part)
        start += n
    return out


# --- range coder with stored histograms ----------------------------------------------------------
def scaled_histogram(counts: np.ndarray, total: int = HIST_TOTAL) -> np.ndarray:
    """Counts rescaled to about `total`, keeping every used symbol >= 1 (cheap to store)."""
    counts = np.asarray(counts, np.int64)
    s = int(counts.sum())
    if s <= total:
        return counts.copy()
    scaled = np.floor(counts * (total / s)).astype(np.int64)
    scaled[(counts > 0) & (scaled == 0)] = 1
    return scaled


def _cost_bits(counts: np.ndarray, model: np.ndarray) -> float:
    """Ideal code length of symbols with `counts` under the histogram `model` (inf if unusable)."""
    used = counts > 0
    if np.any(model[used] == 0):
        return math.inf
    p = model[used] / model.sum()
    return float(-(counts[used] * np.log2(p)).sum())


def _table_bytes(model: np.ndarray) -> bytes:
    out = bytearray()
    k = int(np.flatnonzero(model).max()) + 1 if model.any() else 0
    put_varint(out, k)
    for c in model[:k]:
        put_varint(out, int(c))
    return bytes(out)


def _probabilities(model: np.ndarray) -> np.ndarray:
    return (model / model.sum()).astype(np.float64)


def _categorical(model: np.ndarray):
    """constriction's model of a stored histogram. A histogram with one entry (a tensor whose
    every symbol is 0, e.g. all-zero latents) is given a second, empty entry: constriction
    cannot build a distribution over a single symbol, and the stored table stays as it is."""
    import constriction

    probs = _probabilities(model)
    if len(probs) == 1:
        probs = np.array([1.0, 0.0])
    return constriction.stream.model.Categorical(probs, perfect=False)


def encode_range(streams: Sequence[np.ndarray], alphabets: Sequence[int]) -> tuple[bytes, bytes]:
    import constriction

    streams = [np.asarray(s, np.int64).ravel() for s in streams]
    counts = [np.bincount(s, minlength=k) for s, k in zip(streams, alphabets)]
    # shared histogram per alphabet size; a tensor takes its own when that is cheaper with its table
    own = [False] * len(streams)
    for _ in range(2):
        shared = {}
        for k in set(alphabets):
            members = [c for c, a, o in zip(counts, alphabets, own) if a == k and not o]
            shared[k] = scaled_histogram(np.sum(members, axis=0)) if members else None
        for i, (c, k) in enumerate(zip(counts, alphabets)):
            if not c.any():
                continue
            own_model = scaled_histogram(c)
            own_cost = _cost_bits(c, own_model) + 8 * len(_table_bytes(own_model))
            sh = shared[k]
            shared_cost = _cost_bits(c, sh) if sh is not None else math.inf
            own[i] = own_cost < shared_cost
    shared = {}
    for k in sorted(set(alphabets)):
        members = [c for c, a, o in zip(counts, alphabets, own) if a == k and not o]
        if members and np.sum(members, axis=0).any():
            shared[k] = scaled_histogram(np.sum(members, axis=0))
    models: list[np.ndarray] = list(shared.values())
    shared_index = {k: i for i, k in enumerate(shared)}
    assign = []
    for c, k, o in zip(counts, alphabets, own):
        if not c.any():
            assign.append(0)
        elif o:
            models.append(scaled_histogram(c))
            assign.append(len(models) - 1)
        else:
            assign.append(shared_index[k])
    table = bytearray()
    put_varint(table, len(models))
    for m in models:
        table += _table_bytes(m)
    for a in assign:
        put_varint(table, a)
    enc = constriction.stream.queue.RangeEncoder()
    for s, a in zip(streams, assign):
        if s.size == 0:
            continue
        m = models[a]
        k = int(np.flatnonzero(m).max()) + 1
        enc.encode(s.astype(np.int32), _categorical(m[:k]))
    words = enc.get_compressed().astype("<u4")
    return bytes(table), words.tobytes()


def decode_range(tables: bytes, payload: bytes, sizes: Sequence[int], alphabets: Sequence[int]) -> list[np.ndarray]:
    import constriction

    n_models, pos = get_varint(tables, 0)
    if n_models > len(sizes) + 64:
        raise EntropyError("too many histograms")
    models = []
    for _ in range(n_models):
        k, pos = get_varint(tables, pos)
        if k > (1 << 16):
            raise EntropyError("histogram too large")
        m = np.zeros(k, np.int64)
        for j in range(k):
            m[j], pos = get_varint(tables, pos)
        if k and not m.any():
            raise EntropyError("empty histogram")
        models.append(m)
    assign = []
    for _ in sizes:
        a, pos = get_varint(tables, pos)
        assign.append(a)
    if pos != len(tables):
        raise EntropyError("histogram table has the wrong length")
    if len(payload) % 4:
        raise EntropyError("range-coded payload is not a whole number of 32-bit words")
    words = np.frombuffer(payload, "<u4").astype(np.uint32)
    dec = constriction.stream.queue.RangeDecoder(words)
    out, used = [], []
    for n, k_alpha, a in zip(sizes, alphabets, assign):
        if n == 0:
            out.append(np.zeros(0, np.int64))
            continue
        if a >= len(models) or len(models[a]) == 0:
            raise EntropyError("tensor refers to a missing histogram")
        m = models[a]
        if len(m) > k_alpha:
            raise EntropyError("histogram larger than the tensor's alphabet")
        model = _categorical(m)
        try:
            symbols = np.asarray(dec.decode(model, int(n)), np.int64)
        except Exception as exc:  # constriction raises on invalid data
            raise EntropyError(f"range decoder: {exc}") from exc
        if symbols.max() >= len(m):  # only the padding of a one-entry histogram can give this
            raise EntropyError("range-coded symbol outside its histogram")
        out.append(symbols)
        used.append(model)
    if dec.maybe_exhausted() is False:
        raise EntropyError("range-coded payload has data left over")
    # A range decoder reads missing words as zeros, so a truncated or emptied payload would decode
    # to other symbols without an error: the payload must be exactly the encoding of what it gave.
    enc = constriction.stream.queue.RangeEncoder()
    for arr, model in zip((a for a in out if a.size), used):
        enc.encode(arr.astype(np.int32), model)
    if not np.array_equal(enc.get_compressed().astype(np.uint32), words):
        raise EntropyError("range-coded payload is not the encoding of the symbols it decodes to "
                           "(truncated or altered)")
    return out


def encode(coder: str, streams: Sequence[np.ndarray], alphabets: Sequence[int]) -> tuple[bytes, bytes]:
    if coder == "huffman":
        return encode_huffman(streams, max(alphabets) if alphabets else 1)
    if coder == "range":
        return encode_range(streams, alphabets)
    raise ValueError(f"unknown coder {coder!r} (known: {', '.join(CODERS)})")


def decode(coder: str, tables: bytes, payload: bytes, sizes: Sequence[int],
           alphabets: Sequence[int]) -> list[np.ndarray]:
    if coder == "huffman":
        return decode_huffman(tables, payload, sizes, alphabets)
    if coder == "range":
        return decode_range(tables, payload, sizes, alphabets)
    raise EntropyError(f"unknown coder {coder!r}")
