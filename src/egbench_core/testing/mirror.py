"""Where the plugin test kits find the local data mirror (the folder ``EGBENCH_DATA_MIRROR`` names:
the registry's files under their ids, with a ``SHA256SUMS``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def find_mirror(
    mirror: str | os.PathLike[str] | None = None, near: str | os.PathLike[str] | None = None
) -> Path | None:
    """The data mirror a plugin's tests read: ``mirror`` when given, else ``$EGBENCH_DATA_MIRROR``, else
    (a last fallback, for egbench's own repository) ``shared/data`` beside the repository that holds
    the file ``near`` — ``plugins/<name>/tests/conftest.py`` → ``<repo>/../shared/data``. None when
    nothing is given and the fallback does not exist."""
    if mirror is not None and str(mirror):
        return Path(mirror).expanduser().resolve()
    env = os.environ.get("EGBENCH_DATA_MIRROR")
    if env:
        return Path(env).expanduser().resolve()
    if near is not None:
        parents = Path(near).resolve().parents
        if len(parents) > 3:
            fallback = parents[3].parent / "shared" / "data"
            if fallback.is_dir():
                return fallback
    return None


def missing_mirror(mirror: Path | None, what: str) -> str:
    """Why ``what`` cannot run without a mirror (one line): the ways to name one."""
    where = f"the data mirror {mirror} has no SHA256SUMS" if mirror is not None else "no data mirror"
    return (
        f"{what}: {where}; pass mirror= (the kit's argument), or set EGBENCH_DATA_MIRROR to the folder "
        "holding the registry's files"
    )


@contextlib.contextmanager
def offline_data(
    cache: Path, mirror: str | os.PathLike[str] | None = None, near: str | None = None
) -> Iterator[Path | None]:
    """Inside: ``EGBENCH_DATA_MIRROR`` = :func:`find_mirror` (when one is found), a fresh
    ``EGBENCH_DATA_DIR`` at ``cache``, ``EGBENCH_OFFLINE=1``, no user registry; restored afterwards.
    Yields the mirror (None: none found; a generated dataset such as ``synthetic-emt`` needs none)."""
    found = find_mirror(mirror, near)
    saved = {
        k: os.environ.get(k) for k in ("EGBENCH_DATA_MIRROR", "EGBENCH_DATA_DIR", "EGBENCH_OFFLINE", "EGBENCH_REGISTRY")
    }
    try:
        if found is not None:
            os.environ["EGBENCH_DATA_MIRROR"] = str(found)
        os.environ["EGBENCH_DATA_DIR"] = str(cache)
        os.environ["EGBENCH_OFFLINE"] = "1"
        os.environ.pop("EGBENCH_REGISTRY", None)
        yield found
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_available(catalog: Any, names: Iterable[str], mirror: Path | None, what: str) -> None:
    """AssertionError naming the first of the datasets ``names`` that cannot load offline, and why
    (with the ways to name a mirror)."""
    for name in names:
        reason = catalog.dataset(name).unavailable_reason()
        assert reason is None, f"{missing_mirror(mirror, what)} (dataset {name}: {reason})"
