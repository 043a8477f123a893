"""A generated cache file guarded by a sha256 sidecar (``<file>.sha256``).

The sidecar is written (atomically) right after the file and checked before every read, so a
cache file changed after it was written, or one whose writing was interrupted, is never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_sidecar(path: Path) -> str:
    """Record the sha256 of ``path`` beside it (``sha256sum`` format); returns the digest."""
    path = Path(path)
    digest = _sha256(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{digest}  {path.name}\n")
        os.replace(tmp, sidecar_path(path))
    finally:
        Path(tmp).unlink(missing_ok=True)
    return digest


def sidecar_problem(path: Path) -> str | None:
    """None if ``path`` matches its sidecar, else one line saying why not (names the file, the
    expected and the actual hash)."""
    path = Path(path)
    side = sidecar_path(path)
    actual = _sha256(path)
    try:
        expected = side.read_text().split()[0]
    except (OSError, IndexError):
        return f"{path} has no readable checksum sidecar {side} (its sha256 is {actual})"
    if expected != actual:
        return f"{path} has sha256 {actual}, but {side} recorded {expected} when it was written"
    return None
