"""nvbench: one protocol for benchmarking neural video representations and codecs."""

__version__ = "0.1.0"
