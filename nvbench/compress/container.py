"""The .nvb container: a versioned header and sections, each with its length and CRC32.

Layout (all integers little-endian; docs/nvb-format.md is the full description):

    magic "\\x89NVB\\r\\n\\x1a\\n" (8) | format version u16 | flags u16 (0) | header length u32
    | header (UTF-8 JSON) | CRC32 of everything before it (u32)
    then, for each section the header lists, in order: length u32 | bytes | CRC32 u32
    and nothing after the last section.

No pickle anywhere: the header is JSON, the sections are plain bytes. Every problem raises a
FormatError subclass naming the file and the problem.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from typing import Any

from nvbench.errors import FormatError

MAGIC = b"\x89NVB\r\n\x1a\n"
FORMAT_VERSION = 1
_FIXED = struct.Struct("<8sHHI")  # magic, version, flags, header length
MAX_HEADER = 16 << 20


class TruncatedFileError(FormatError):
    """The file ends before the header or a section does."""


class BadMagicError(FormatError):
    """The file does not start with the .nvb magic number."""


class UnsupportedVersionError(FormatError):
    """Written by a newer nvbench (or with flags this version does not know)."""


class ChecksumError(FormatError):
    """A CRC32 does not match: the header or a section was corrupted."""


class HeaderMismatchError(FormatError):
    """The header does not describe the sections (or the decoder) that follow."""


class CorruptFileError(FormatError):
    """Anything else that makes the file undecodable (bad JSON, extra bytes, bad coded data)."""


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def write_container(header: dict[str, Any], sections: Sequence[tuple[str, bytes]]) -> bytes:
    """Bytes of a .nvb file; the header gets the section list (name, length, crc32)."""
    header = dict(header)
    header["sections"] = [{"name": n, "length": len(b), "crc32": crc32(b)} for n, b in sections]
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")
    head = _FIXED.pack(MAGIC, FORMAT_VERSION, 0, len(hjson)) + hjson
    out = bytearray(head)
    out += struct.pack("<I", crc32(head))
    for _, body in sections:
        out += struct.pack("<I", len(body))
        out += body
        out += struct.pack("<I", crc32(body))
    return bytes(out)


def read_container(data: bytes, name: str = "file") -> tuple[dict[str, Any], dict[str, bytes]]:
    """(header, {section name: bytes}) of a .nvb file, or a FormatError subclass."""
    if len(data) < _FIXED.size:
        if not MAGIC.startswith(bytes(data[: len(MAGIC)])):
            raise BadMagicError(f"{name}: not an nvbench .nvb file (wrong magic number)")
        raise TruncatedFileError(f"{name}: truncated: {len(data)} bytes, shorter than the fixed header")
    magic, version, flags, hlen = _FIXED.unpack_from(data, 0)
    if magic != MAGIC:
        raise BadMagicError(f"{name}: not an nvbench .nvb file (wrong magic number {magic!r})")
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"{name}: format version {version} is newer than this nvbench reads ({FORMAT_VERSION}); "
            "upgrade nvbench")
    if version < 1:
        raise CorruptFileError(f"{name}: invalid format version {version}")
    if flags != 0:
        raise UnsupportedVersionError(f"{name}: unknown flags 0x{flags:04x} (format version {version})")
    if hlen > MAX_HEADER:
        raise CorruptFileError(f"{name}: header length {hlen} is implausible")
    end = _FIXED.size + hlen
    if len(data) < end + 4:
        raise TruncatedFileError(f"{name}: truncated inside the header ({len(data)} bytes, header needs {end + 4})")
    (hcrc,) = struct.unpack_from("<I", data, end)
    if crc32(data[:end]) != hcrc:
        raise ChecksumError(f"{name}: header checksum mismatch (the header is corrupted)")
    try:
        header = json.loads(bytes(data[_FIXED.size : end]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptFileError(f"{name}: header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get("sections"), list):
        raise HeaderMismatchError(f"{name}: header has no section list")
    pos = end + 4
    sections: dict[str, bytes] = {}
    for i, entry in enumerate(header["sections"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("length"), int) or not isinstance(entry.get("crc32"), int):
            raise HeaderMismatchError(f"{name}: header entry for section {i} is malformed")
        sname = entry["name"]
        if sname in sections:
            raise HeaderMismatchError(f"{name}: section {sname!r} listed twice")
        if len(data) < pos + 4:
            raise TruncatedFileError(f"{name}: truncated before section {sname!r}")
        (length,) = struct.unpack_from("<I", data, pos)
        if length != entry["length"]:
            raise HeaderMismatchError(
                f"{name}: section {sname!r} is {length} bytes but the header says {entry['length']}")
        if len(data) < pos + 4 + length + 4:
            raise TruncatedFileError(f"{name}: truncated inside section {sname!r}")
        body = bytes(data[pos + 4 : pos + 4 + length])
        (scrc,) = struct.unpack_from("<I", data, pos + 4 + length)
        if crc32(body) != scrc or scrc != entry["crc32"]:
            raise ChecksumError(f"{name}: checksum mismatch in section {sname!r} (the data is corrupted)")
        sections[sname] = body
        pos += 8 + length
    if pos != len(data):
        raise CorruptFileError(f"{name}: {len(data) - pos} unexpected bytes after the last section")
    return header, sections
