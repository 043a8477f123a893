"""Isolated-atom reference energies (docs/protocol.md, "Reference energies"): ``{Z: eV}``.

A registry dataset declares them in one of two ways:

* ``isolated_atoms = "<registry file id>"``: a file of single-atom frames, each with its energy
  (BOTNet-datasets' ``isolated_atoms.xyz`` / ``iso_atoms.xyz``), verified by checksum like any
  registry file and read with the file's units;
* ``isolated_atom_energies = { H = -13.568, C = -1026.854, ... }``: inline, in eV.

Either way every element of the dataset must have one finite energy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from egbench_core.data.readers import Frames, MalformedDataError
from egbench_core.data.registry_checks import bad


def inline_energies(value: Any, elements: list[str], origin: str, table: str) -> dict[int, float]:
    """``isolated_atom_energies = { H = ..., ... }`` (eV) -> ``{Z: eV}``, or RegistryError."""
    from ase.data import atomic_numbers

    key = "isolated_atom_energies"
    if not isinstance(value, dict):
        raise bad(origin, table, key, value, "a table of energies in eV by element, e.g. { H = -13.6, C = -1027.0 }")
    for sym, e in value.items():
        if sym not in atomic_numbers or sym == "X":
            raise bad(origin, table, key, value, f"chemical symbols as keys; {sym!r} is none")
        if not isinstance(e, (int, float)) or isinstance(e, bool) or not math.isfinite(e):
            raise bad(origin, table, f"{key}.{sym}", e, "a finite energy in eV")
    missing = [el for el in elements if el not in value]
    if missing:
        raise bad(
            origin,
            table,
            key,
            value,
            f"an energy for every element of the dataset ({', '.join(elements)}); missing {', '.join(missing)}",
        )
    return {atomic_numbers[sym]: float(e) for sym, e in value.items()}


def energies_from_frames(frames: Frames, elements: list[str], dataset: str) -> dict[int, float]:
    """Single-atom frames (one per element) -> ``{Z: eV}``, or MalformedDataError naming the frame."""
    from ase.data import atomic_numbers, chemical_symbols

    out: dict[int, float] = {}
    for i in range(len(frames)):
        if frames.n_atoms[i] != 1:
            raise MalformedDataError(
                f"{frames.frame_label(i)} holds {int(frames.n_atoms[i])} atoms; "
                "expected one atom per frame (isolated-atom energies)"
            )
        z, e = int(frames.numbers[frames.offsets[i]]), float(frames.energy[i])
        if not np.isfinite(e):
            raise MalformedDataError(f"{frames.frame_label(i)} has energy {e}; expected a finite isolated-atom energy")
        if z in out and out[z] != e:
            raise MalformedDataError(
                f"{frames.frame_label(i)}: a second energy for {chemical_symbols[z]} ({e}, "
                f"first {out[z]}); expected one frame per element"
            )
        out[z] = e
    missing = [el for el in elements if atomic_numbers[el] not in out]
    if missing:
        raise MalformedDataError(
            f"{frames.source}: no isolated-atom energy for {', '.join(missing)}; expected one "
            f"frame per element of dataset {dataset} ({', '.join(elements)})"
        )
    return out
