"""``CalculatorConformance``: the conformance checks that apply to a calculator-backed model
(:func:`egbench_core.interfaces.calculator_model`), whose forces are its own::

    from egbench_core.testing import CalculatorConformance

    class TestMyCalculator(CalculatorConformance):
        spec = my_calculator_spec()
        species = (1, 6, 8)                       # default: the fixtures' elements
        finite_difference = {"atol": 1e-6, "rtol": 1e-5, "step": 1e-4}   # float64 default
        invariance = {"atol": 1e-9, "rtol": 1e-7}

Checked through the calculator core uses (the guarded one, :mod:`egbench_core.model.calculator_model`), on
the kit's molecule and periodic box: finite energies and forces of the right shapes; that the energy
depends on the positions; forces = -dE/dr by central finite differences; rotation (forces rotate),
translation and permutation invariance; a 2×2×2 supercell has 8 times the energy. A calculator
computing in float32 sets looser tolerances (and a larger step). Periodic checks are skipped when
the spec declares ``capabilities.periodic = False``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from egbench_core.testing import structures
from egbench_core.testing.conformance import SpecUnderTest, _fail, assert_close


def finite_difference_forces(atoms, points: Sequence[tuple[int, int]], step: float) -> np.ndarray:
    """``-dE/dx`` by central differences of ``atoms.get_potential_energy()`` (its calculator) at each
    (atom, Cartesian component) of ``points``; the positions are restored afterwards."""
    start = atoms.positions.copy()
    out = []
    try:
        for a, k in points:
            e = []
            for sign in (1.0, -1.0):
                p = start.copy()
                p[a, k] += sign * step
                atoms.positions = p
                e.append(atoms.get_potential_energy())
            out.append(-(e[0] - e[1]) / (2 * step))
    finally:
        atoms.positions = start
    return np.array(out)


class CalculatorConformance(SpecUnderTest):
    spec_kind: ClassVar[str] = "the calculator-backed ModelSpec"
    finite_difference: ClassVar[dict[str, float]] = {"atol": 1e-6, "rtol": 1e-5, "step": 1e-4}
    invariance: ClassVar[dict[str, float]] = {"atol": 1e-9, "rtol": 1e-7}

    # -- set-up -----------------------------------------------------------------------------
    def calculator(self):
        from egbench_core.model.calculator_model import GuardedCalculator

        make = self._spec().calculator
        assert make is not None, f"{type(self).__name__}: the spec under test has no calculator"
        return GuardedCalculator(make())

    def _structures(self) -> list[tuple[str, Any]]:
        out = [("molecule", structures.molecule(self._species()))]
        if self._spec().capabilities.periodic:
            out.append(("periodic box", structures.periodic_box(self._species())))
        return out

    def evaluate(self, atoms) -> tuple[float, np.ndarray]:
        a = atoms.copy()
        a.calc = self.calculator()
        return float(a.get_potential_energy()), np.array(a.get_forces(), dtype=np.float64)

    # -- the checks -------------------------------------------------------------------------
    def test_spec_metadata(self):
        spec = self._spec()
        if not spec.calculator_backed:
            _fail(f"model {spec.name!r} is not calculator-backed (spec.calculator is None): use ModelConformance")
        if spec.capabilities.trainable:
            _fail(f"model {spec.name!r}: a calculator-backed model declares capabilities.trainable = False")
        if not (spec.citation and spec.licence):
            _fail(f"model {spec.name!r} must declare its citation and licence")
        missing = {"smoke", "quick", "paper"} - set(spec.presets)
        if missing:
            _fail(f"model {spec.name!r} lacks the presets {sorted(missing)}")

    def test_finite_energy_and_forces(self):
        for name, atoms in self._structures():
            e, f = self.evaluate(atoms)
            if not np.isfinite(e) or f.shape != (len(atoms), 3) or not np.isfinite(f).all():
                _fail(f"{name}: energy {e!r}, forces of shape {f.shape} (finite: {np.isfinite(f).all()})")

    def test_energy_depends_on_positions(self):
        for name, atoms in self._structures():
            moved = atoms.copy()
            moved.positions[0] += np.array([0.15, -0.1, 0.05])
            e0, e1 = self.evaluate(atoms)[0], self.evaluate(moved)[0]
            if not abs(e1 - e0) > 1e-6:
                _fail(f"{name}: energy does not change when an atom moves ({e0!r} -> {e1!r})")

    def test_forces_match_finite_differences(self):
        tol = self.finite_difference
        h = tol["step"]
        for name, atoms in self._structures():
            forces = self.evaluate(atoms)[1]
            calc_atoms = atoms.copy()
            calc_atoms.calc = self.calculator()
            points = [(a, k) for a in range(len(atoms)) for k in range(3)]
            fd = finite_difference_forces(calc_atoms, points, h).reshape(forces.shape)
            assert_close(forces, fd, tol, f"{name}: forces vs -dE/dr by finite differences")

    def test_rotation_equivariance(self):
        rot = structures.random_rotation(self.seed + 1)
        for name, atoms in self._structures():
            rotated = structures.rotated(atoms, rot)
            (e0, f0), (e1, f1) = self.evaluate(atoms), self.evaluate(rotated)
            assert_close([e1], [e0], self.invariance, f"{name}: energy under rotation")
            assert_close(f1, f0 @ rot.T, self.invariance, f"{name}: forces rotate with the structure")

    def test_translation_invariance(self):
        for name, atoms in self._structures():
            moved = atoms.copy()
            moved.positions += np.array([1.3, -0.7, 2.9])
            (e0, f0), (e1, f1) = self.evaluate(atoms), self.evaluate(moved)
            assert_close([e1], [e0], self.invariance, f"{name}: energy translated")
            assert_close(f1, f0, self.invariance, f"{name}: forces translated")

    def test_permutation_invariance(self):
        rng = np.random.default_rng(self.seed + 2)
        for name, atoms in self._structures():
            perm = rng.permutation(len(atoms))
            while (perm == np.arange(len(atoms))).all():
                perm = rng.permutation(len(atoms))
            (e0, f0), (e1, f1) = self.evaluate(atoms), self.evaluate(atoms[perm])
            assert_close([e1], [e0], self.invariance, f"{name}: energy under permutation")
            assert_close(f1, f0[perm], self.invariance, f"{name}: forces permute with the atoms")

    def test_periodic_images(self):
        if not self._spec().capabilities.periodic:
            import pytest

            pytest.skip("model declares capabilities.periodic = False")
        box = structures.periodic_box(self._species())
        (e1, f1), (e8, f8) = self.evaluate(box), self.evaluate(box.repeat((2, 2, 2)))
        assert_close([e8], [8 * e1], self.invariance, "periodic box: a 2x2x2 supercell has 8 times the energy")
        assert_close(f8, np.tile(f1, (8, 1)), self.invariance, "periodic box: supercell forces repeat the cell's")
