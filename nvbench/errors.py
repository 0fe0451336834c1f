"""Errors a user can act on. The CLI prints their message on one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NvbenchError(Exception):
    """Base class: anything the user caused and can fix (bad name, missing data, bad file)."""


class UnknownNameError(NvbenchError, KeyError):
    """An unknown method, task, dataset or option name; the message suggests the closest ones."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (known: {', '.join(known) or 'none'})")
        self.kind, self.name, self.close = kind, name, close

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0])


class MissingDataError(NvbenchError):
    """Data is not on disk; the message says how to get it."""


class SizeError(NvbenchError):
    """A size budget a method cannot reach."""


class UnavailableError(NvbenchError):
    """A plugin whose optional dependency (or weights) is missing."""


class FormatError(NvbenchError):
    """A bad file: the message names the file and the problem."""
