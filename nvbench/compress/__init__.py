"""Compression of neural representations into one real file (.nvb).

prune (global magnitude, fine-tuned with the shared loop) -> quantise (b bits, per tensor or
per channel, HNeRV's lower-error choice) -> entropy-code (canonical Huffman as in the papers, or
a range coder with stored histograms) -> container (versioned header, sections with length and
CRC32). Decoding needs only the file and the method plugin (docs/nvb-format.md).
"""

from nvbench.compress.container import (
    BadMagicError,
    ChecksumError,
    CorruptFileError,
    HeaderMismatchError,
    TruncatedFileError,
    UnsupportedVersionError,
)

__all__ = [
    "BadMagicError", "ChecksumError", "CorruptFileError", "HeaderMismatchError", "TruncatedFileError",
    "UnsupportedVersionError",
]
