"""Getting source files: resumable, checksummed downloads and extraction from .7z/.zip archives.

Downloads go to `<data root>/downloads/<name>.part` and are renamed when complete and
verified; an interrupted download resumes with an HTTP Range request (a server that ignores
it answers 200 and the download restarts from zero).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from nvbench.errors import FormatError, MissingDataError, NvbenchError

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK * 8):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, sha256: str | None = None,
             progress: Callable[[int, int | None], None] | None = None, timeout: float = 60.0) -> Path:
    """Fetch `url` to `dest` (resuming `dest.part`), verify size and sha256, rename into place.
    Returns `dest`; an existing complete `dest` with the right checksum is kept as is."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "nvbench"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part is already complete
            resp = None
        else:
            raise NvbenchError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise NvbenchError(f"download of {url} failed: {getattr(exc, 'reason', exc)}; "
                           f"download it by hand and use `nvbench data prepare ... --from FILE`") from None
    if resp is not None:
        with resp:
            status = getattr(resp, "status", 200)
            length = resp.headers.get("Content-Length")
            if status == 206:
                total = have + int(length) if length else None
                mode = "ab"
            else:  # 200: the server sent the whole file
                have, mode = 0, "wb"
                total = int(length) if length else None
            got = have
            with open(part, mode) as fh:
                while block := resp.read(CHUNK):
                    fh.write(block)
                    got += len(block)
                    if progress:
                        progress(got, total)
        if total is not None and got != total:
            raise NvbenchError(f"download of {url} stopped at {got} of {total} bytes; run the same command "
                               f"again to resume ({part})")
    if sha256 is not None:
        digest = sha256_file(part)
        if digest != sha256:
            part.unlink()
            raise FormatError(f"{url}: sha256 {digest} does not match the expected {sha256}; "
                              "the partial file was removed, run the command again")
    os.replace(part, dest)
    return dest


def seven_zip_names(archive: Path) -> list[str]:
    import py7zr

    try:
        with py7zr.SevenZipFile(archive, "r") as z:
            return z.getnames()
    except (py7zr.Bad7zFile, EOFError, OSError) as exc:
        raise FormatError(f"{archive}: not a readable .7z archive ({exc})") from None


def extract_7z_member(archive: Path, wanted: Callable[[str], bool], workdir: Path, what: str) -> Path:
    """Extract the one member that `wanted` accepts into a temporary folder inside `workdir`
    (the caller removes it); an archive without it is a FormatError naming the archive."""
    try:
        import py7zr
    except ImportError:  # declared in the `data` extra
        raise MissingDataError("reading .7z archives needs py7zr: pip install 'nvbench[data]' (or pip install "
                               "py7zr), or extract the archive yourself and pass the folder") from None
    names = seven_zip_names(archive)
    match = [n for n in names if wanted(n)]
    if not match:
        raise FormatError(f"{archive}: does not contain {what} (it holds: {', '.join(names[:5]) or 'nothing'}"
                          f"{' ...' if len(names) > 5 else ''})")
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=workdir, prefix=".extract-", suffix=".tmp"))
    try:
        with py7zr.SevenZipFile(archive, "r") as z:
            z.extract(path=tmp, targets=[match[0]])
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FormatError(f"{archive}: extraction of {match[0]} failed ({exc})") from None
    out = tmp / match[0]
    if not out.is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise FormatError(f"{archive}: extraction of {match[0]} produced no file")
    return out
