"""Range checks of the values in a registry's ``[datasets.*]`` and ``[files.*]`` tables.

A bad value raises :class:`~egbench_core.data.registry.RegistryError` with one line naming the registry
file, the table, the key, the value and what was expected, e.g.::

    my_registry.toml: [datasets.my-set] timestep_fs = 0: expected a number with 0 < timestep_fs <= 10 (fs)

so that it is caught where it is declared, not later in a neighbour list or a thermostat.

A key that nothing reads (a misspelling: ``selct`` for ``select``) is refused the same way, naming
the key, the table and the nearest valid key (:func:`check_keys`): a split whose ``select`` is
misspelt would otherwise silently be the whole file. The keys a dataset table may hold are those
its dataset class reads (``DatasetSpec.TABLE_KEYS`` / ``SPLIT_KEYS``, extended by each class).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

from egbench_core.data.registry import FileEntry, RegistryError

UNIT_KEYS = ("energy", "forces", "length")
# the keys of a [files."<name>"] entry (``compression`` is informative: the name's suffix decides)
FILE_KEYS = frozenset({"url", "sha256", "git_sha1", "format", "units", "licence", "embedded", "compression"})
SELECT_KEYS = frozenset({"range", "random", "part", "seed"})


def bad(origin: str, table: str, key: str, value: Any, expected: str) -> RegistryError:
    return RegistryError(f"{origin}: [{table}] {key} = {_show(value)}: expected {expected}")


def check_keys(origin: str, table: str, keys: Iterable[str], known: Iterable[str], inner: str = "") -> None:
    """Every key of ``[table]`` (of its inline table ``inner``, e.g. ``select``) is one of ``known``;
    else RegistryError naming the first unknown key, the table and the nearest valid key."""
    known = sorted(known)
    for key in keys:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1, cutoff=0.0)
            hint = f"the nearest valid key is {near[0]!r}; " if near else ""
            raise RegistryError(
                f"{origin}: [{table}] {inner + ' ' if inner else ''}has an unknown key {key!r}: {hint}"
                f"expected some of {', '.join(known)}"
            )


def check_table_keys(origin: str, name: str, t: dict, table_keys: Iterable[str], split_keys: Iterable[str]) -> None:
    """The keys of ``[datasets.<name>]`` and of each of its ``splits`` tables."""
    check_keys(origin, f"datasets.{name}", t, table_keys)
    splits = t.get("splits")
    if isinstance(splits, dict):
        for split, st in splits.items():
            if isinstance(st, dict):
                check_keys(origin, f"datasets.{name}.splits.{split}", st, split_keys)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_number(
    origin: str,
    table: str,
    t: dict,
    key: str,
    low: float,
    high: float | None = None,
    low_inclusive: bool = False,
    unit: str = "",
) -> None:
    """``t[key]`` (if present) is a finite number above ``low`` (and at most ``high``)."""
    if key not in t:
        return
    v = t[key]
    ok = _is_number(v) and (v >= low if low_inclusive else v > low) and (high is None or v <= high)
    if not ok:
        rel = ">=" if low_inclusive else ">"
        rng = f"{low:g} < {key} <= {high:g}" if high is not None else f"{key} {rel} {low:g}"
        raise bad(origin, table, key, v, f"a number with {rng}" + (f" ({unit})" if unit else ""))


def check_dataset(name: str, t: dict, origin: str) -> None:
    """The dataset-level values of ``[datasets.<name>]`` (splits are checked by :func:`check_split`)."""
    from egbench_core.interfaces import ID_RE

    table = f"datasets.{name}"
    if not ID_RE.match(name):
        raise RegistryError(
            f"{origin}: [{table}]: the dataset id {name!r} is not lowercase kebab-case; expected e.g. 'md17-aspirin'"
        )
    for key in ("splits", "elements", "periodic", "temperature_K", "timestep_fs"):
        if key not in t:
            raise RegistryError(f"{origin}: [{table}] lacks {key!r}")
    if (
        not isinstance(t["splits"], dict)
        or not t["splits"]
        or not all(isinstance(v, dict) for v in t["splits"].values())
    ):
        raise bad(origin, table, "splits", t["splits"], "one table per split ([datasets.<id>.splits.<split>])")
    check_elements(origin, table, "elements", t["elements"])
    if not isinstance(t["periodic"], bool):
        raise bad(origin, table, "periodic", t["periodic"], "true or false")
    check_number(origin, table, t, "temperature_K", 0.0, unit="K")
    check_number(origin, table, t, "timestep_fs", 0.0, 10.0, unit="fs")
    check_number(origin, table, t, "friction_per_ps", 0.0, low_inclusive=True, unit="1/ps")


def check_elements(origin: str, table: str, key: str, value: Any) -> None:
    from ase.data import chemical_symbols

    known = set(chemical_symbols[1:])
    if not isinstance(value, list) or not value:
        raise bad(origin, table, key, value, 'a non-empty list of chemical symbols, e.g. ["H", "C", "O"]')
    for el in value:
        if el not in known:
            raise bad(origin, table, key, value, f'chemical symbols such as "H", "Cu"; {_show(el)} is none')
    if len(set(value)) != len(value):
        raise bad(origin, table, key, value, "each element once")


def check_split(name: str, split: str, t: dict, origin: str, formats: Iterable[str]) -> None:
    table = f"datasets.{name}.splits.{split}"
    if "frames" in t and not (_is_int(t["frames"]) and t["frames"] > 0):
        raise bad(origin, table, "frames", t["frames"], "a positive integer (the number of frames of the split)")
    check_number(origin, table, t, "temperature_K", 0.0, unit="K")
    check_number(origin, table, t, "frame_spacing_fs", 0.0, unit="fs")
    if "contiguous" in t and not isinstance(t["contiguous"], bool):
        raise bad(origin, table, "contiguous", t["contiguous"], "true or false")
    if "train_dataset" in t and not (isinstance(t["train_dataset"], str) and t["train_dataset"]):
        raise bad(
            origin,
            table,
            "train_dataset",
            t["train_dataset"],
            "a dataset id (an OOD task evaluating this split trains there)",
        )
    if "format" in t and t["format"] not in formats:
        raise bad(origin, table, "format", t["format"], f"one of {', '.join(sorted(formats))}")
    if "select" in t:
        check_select(origin, table, t["select"])


def check_select(origin: str, table: str, sel: Any) -> None:
    """``{ range = [start, stop, step] }`` or ``{ random = [n0, n1, ...], part = k, seed = s }``."""
    shapes = "{ range = [start, stop, step] } or { random = [n0, n1, ...], part = k, seed = s }"
    if isinstance(sel, dict):
        check_keys(origin, table, sel, SELECT_KEYS, "select")
    if not isinstance(sel, dict) or ("range" in sel) == ("random" in sel):
        raise bad(origin, table, "select", sel, shapes)
    if "range" in sel:
        r = sel["range"]
        if set(sel) != {"range"} or not isinstance(r, list) or not 1 <= len(r) <= 3 or not all(_is_int(x) for x in r):
            raise bad(origin, table, "select", sel, "range = [start, stop] or [start, stop, step] of integers")
        if len(r) == 3 and r[2] == 0:
            raise bad(origin, table, "select.range", r, "a step other than 0")
        return
    if set(sel) != {"random", "part", "seed"}:
        raise bad(origin, table, "select", sel, "random = [n0, n1, ...] with part = k and seed = s, nothing else")
    sizes = sel["random"]
    if not isinstance(sizes, list) or not sizes or not all(_is_int(n) and n > 0 for n in sizes):
        raise bad(origin, table, "select.random", sizes, "a list of positive integers (the sizes of the parts)")
    if not (_is_int(sel["part"]) and 0 <= sel["part"] < len(sizes)):
        raise bad(
            origin, table, "select.part", sel["part"], f"an integer from 0 to {len(sizes) - 1} (a part of random)"
        )
    if not _is_int(sel["seed"]):
        raise bad(origin, table, "select.seed", sel["seed"], "an integer")


def check_file(e: FileEntry, origin: str, formats: Iterable[str] | None, used_by: str) -> None:
    """The keys, the ``format`` (if ``formats`` is given) and ``units`` of a file a dataset reads."""
    from egbench_core.units import energy_factor, force_factor, length_factor

    table = f'files."{e.name}"'
    why = f" ({used_by} reads it)"
    check_keys(origin, table, e.keys, FILE_KEYS)  # first: a misspelt format is named as such
    if formats is not None and e.format not in formats:
        raise bad(origin, table, "format", e.format, f"one of {', '.join(sorted(formats))}{why}")
    for key, value in e.units.items():
        if key not in UNIT_KEYS:
            near = difflib.get_close_matches(str(key), UNIT_KEYS, n=1, cutoff=0.0)
            raise bad(
                origin,
                table,
                f"units.{key}",
                value,
                f"units named {', '.join(UNIT_KEYS)} only (the nearest valid key is {near[0]!r}){why}",
            )
        try:
            {"energy": energy_factor, "forces": force_factor, "length": length_factor}[key](value)
        except (ValueError, TypeError) as exc:
            raise bad(origin, table, f"units.{key}", value, f"a known unit: {exc}{why}") from None
