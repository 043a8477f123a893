"""A generated cache file guarded by a sha256 sidecar (``<file>.sha256``).

The sidecar is written (atomically) right after the file and checked before every read, so a
cache file changed after it was written, or one whose writing was interrupted, is never used.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .registry import file_hash


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_sidecar(path: Path) -> str:
    """Record the sha256 of ``path`` beside it (``sha256sum`` format); returns the digest."""
    path = Path(path)
    digest = file_hash(path, "sha256")
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
    actual = file_hash(path, "sha256")
    try:
        expected = side.read_text().split()[0]
    except (OSError, IndexError):
        return f"{path} has no readable checksum sidecar {side} (its sha256 is {actual})"
    if expected != actual:
        return f"{path} has sha256 {actual}, but {side} recorded {expected} when it was written"
    return None
