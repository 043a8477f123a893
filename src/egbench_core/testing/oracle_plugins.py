"""Test kit for oracle plugins: registration is cheap and found, the spec says what it is (version,
description, citation, licence), and the calculator ``make(params)`` returns labels real frames of a
dataset with finite energies (eV) and forces (eV/Å) of the right shape, forces that are −dE/dr by
central finite differences, and the same numbers for the same frame twice (egbench caches an
oracle's labels by frame).

An oracle plugin's tests::

    from egbench_core.testing.oracle_plugins import OraclePluginChecks

    class TestMyOracle(OraclePluginChecks):
        plugin = "my-oracle"            # the entry-point name
        module = "egbench_oracle_mine"
        oracle = "my-dft"
        params = {"method": "..."}      # what a dataset declares in [datasets.<id>.oracle.params]
        run_on = "acac"                 # frames of its test split are labelled
        heavy = ("torch", "mydft")      # what registering must not import

Data comes from the mirror (the class's ``mirror``, else ``EGBENCH_DATA_MIRROR``) into a temporary
cache, offline. Importing this module imports pytest, not torch.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, ClassVar

import numpy as np
import pytest

from egbench_core.interfaces import OracleSpec, check_id
from egbench_core.testing.mirror import check_available, offline_data
from egbench_core.testing.registration import check_registration


def check_oracle_spec(spec: Any) -> None:
    """AssertionError unless ``spec`` is an :class:`OracleSpec` with a valid id, a version, a
    description, a citation and a licence (shown with every value the oracle labels)."""
    assert isinstance(spec, OracleSpec), f"registered a {type(spec).__name__}, expected an OracleSpec"
    check_id("oracle", spec.name)
    for what in ("version", "description", "citation", "licence"):
        assert getattr(spec, what), f"oracle {spec.name}: no {what}"


def finite_difference_forces(atoms: Any, components: list[tuple[int, int]], step: float = 1e-3) -> np.ndarray:
    """−dE/dr of the given (atom, axis) components by central differences of ``atoms``' calculator."""
    out = []
    for i, k in components:
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.calc = atoms.calc
            moved.positions[i, k] += sign * step
            energies.append(moved.get_potential_energy())
        out.append(-(energies[0] - energies[1]) / (2 * step))
    return np.array(out)


class OraclePluginChecks:
    """Mixin of pytest checks for an oracle plugin (see the module's docstring for the attributes).
    ``frames``: how many test frames are labelled; ``fd_tolerance``: eV/Å between the forces and
    their finite differences. The class fixture ``labelled`` gives ``(frames, [(k, atoms, energy,
    forces)])``: the test split's frames and, per labelled frame ``k``, the oracle's labels (eV, eV/Å),
    for the plugin's own checks."""

    plugin: ClassVar[str] = ""
    module: ClassVar[str] = ""
    oracle: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    heavy: ClassVar[tuple[str, ...]] = ("torch",)
    installed: ClassVar[bool] = True
    run_on: ClassVar[str] = "acac"
    frames: ClassVar[int] = 2
    fd_tolerance: ClassVar[float] = 5e-3
    mirror: ClassVar[str | None] = None

    @pytest.fixture(scope="class")
    @classmethod
    def oracle_catalog(cls, tmp_path_factory):
        from egbench_core.plugins import load_catalog

        with offline_data(tmp_path_factory.mktemp("oracle-kit-data"), cls.mirror) as mirror:
            cat = load_catalog(extra_plugins=[importlib.import_module(cls.module)], entry_points=False)
            check_available(cat, [cls.run_on], mirror, cls.module)
            yield cat

    @pytest.fixture(scope="class")
    @classmethod
    def labelled(cls, oracle_catalog):
        spec = oracle_catalog.oracle(cls.oracle)
        test = oracle_catalog.dataset(cls.run_on).load("test")
        picks = np.linspace(0, len(test) - 1, cls.frames).astype(int)
        out = []
        for k in picks:
            atoms = test.to_atoms(int(k))
            atoms.calc = spec.make(dict(cls.params))
            out.append((int(k), atoms, float(atoms.get_potential_energy()), np.array(atoms.get_forces())))
        return test, out

    def test_registration_is_cheap_and_found(self):
        check_registration(self.module, self.plugin, "register_oracles", (self.oracle,), self.heavy, self.installed)

    def test_declarations(self, oracle_catalog):
        check_oracle_spec(oracle_catalog.oracle(self.oracle))

    def test_labels_real_frames(self, labelled):
        for _, atoms, energy, forces in labelled[1]:
            assert math.isfinite(energy), f"oracle {self.oracle}: energy {energy}"
            assert forces.shape == (len(atoms), 3) and np.isfinite(forces).all(), f"oracle {self.oracle}: forces"

    def test_forces_are_minus_the_energy_gradient(self, labelled):
        _, atoms, _, forces = labelled[1][0]
        components = [(0, 0), (len(atoms) - 1, 2)]
        fd = finite_difference_forces(atoms, components)
        got = np.array([forces[i, k] for i, k in components])
        assert np.abs(fd - got).max() < self.fd_tolerance, f"oracle {self.oracle}: forces {got}, −dE/dr {fd}"

    def test_the_same_frame_gives_the_same_labels(self, oracle_catalog, labelled):
        _, atoms, energy, forces = labelled[1][0]
        again = atoms.copy()
        again.calc = oracle_catalog.oracle(self.oracle).make(dict(self.params))  # a fresh calculator
        assert again.get_potential_energy() == pytest.approx(energy, abs=1e-8)
        assert np.allclose(again.get_forces(), forces, atol=1e-8)
