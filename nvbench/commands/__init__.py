"""Subcommands: each module defines `register(subparsers)`; the parser finds them all.

A module adds its parser with `sub.add_parser(...)` and `set_defaults(func=...)`, where func
takes the parsed args and returns an exit code. Keep imports inside func (startup stays fast).
"""
