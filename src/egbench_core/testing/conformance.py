"""``ModelConformance``: the pytest mixin every model plugin's tests subclass.

A plugin supplies only its :class:`~egbench_core.interfaces.ModelSpec`::

    from egbench_core.testing import ModelConformance
    from egbench_model_foo import foo_spec

    class TestFooConformance(ModelConformance):
        spec = foo_spec()
        preset = "smoke"          # default
        species = (1, 6, 8, 14)   # default: the fixtures' elements

The kit builds the model with ``spec.build(species, cutoff, params, stats)`` (seeded, with
fabricated but non-trivial :class:`~egbench_core.model.stats.DatasetStats`), wraps it in core's
:class:`~egbench_core.model.potential.NormalisedPotential`, converts it to float64 and checks it, on a
molecule and on a small periodic box, through core's one code path
(:func:`~egbench_core.model.potential.evaluate`): shapes and dtypes; that the energy depends on the
positions and on the elements; forces = -dE/dr and stress = (1/V) dE/dε by central finite
differences; rotation, translation and permutation invariance (forces equivariant); batching;
periodic images (supercells); float32 against float64; that the parameters receive gradients.
Periodic checks are skipped only when the spec declares ``capabilities.periodic = False``.

Each check is a plain method raising :class:`AssertionError`, so it can also be called
directly (the kit's own tests do that to show it catches broken models). Override
:meth:`ModelConformance.prepare_model` to, e.g., randomise a zero-initialised output layer.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar, NoReturn

import numpy as np

from egbench_core.interfaces import ModelSpec
from egbench_core.testing import structures

#: Named tolerances. Comparisons are ``max|a - b| <= atol + rtol * max|b|`` (energies are
#: compared after subtracting the per-element reference energies, which cancel exactly).
TOLERANCES: dict[str, dict[str, float]] = {
    # the same float64 computation done differently (rotated, permuted, batched, ...)
    "float64": {"atol": 1e-9, "rtol": 1e-7},
    # a float32 model against the same weights in float64
    "float32": {"atol": 1e-5, "rtol": 1e-4},
    # autograd against central finite differences (float64, step below)
    "finite_difference": {"atol": 1e-6, "rtol": 1e-5, "step": 1e-4},
}

# Fabricated normalisation: non-trivial reference energies (eV) and scale (eV), so a model that
# bypasses NormalisedPotential's conventions shows up.
FAKE_E0 = {1: -13.6, 6: -1029.8, 8: -2043.1, 14: -7871.2}
FAKE_SCALE = 1.7


def fake_stats(species: Sequence[int], cutoff: float) -> Any:
    """:class:`DatasetStats` for ``species`` with made-up E0s and scale, and the fixtures' real
    average number of neighbours within ``cutoff``."""
    from egbench_core.model.graph import neighbour_list
    from egbench_core.model.stats import DatasetStats

    species = tuple(sorted(int(z) for z in species))
    e0 = tuple(FAKE_E0.get(z, -100.0 - 3.0 * z) for z in species)
    edges = atoms = 0
    for a in (structures.molecule(species), structures.periodic_box(species)):
        edges += len(neighbour_list(a.positions, a.cell.array, a.pbc, cutoff)[0])
        atoms += len(a)
    return DatasetStats(species, e0, FAKE_SCALE, edges / atoms, 0.05)


def _fail(msg: str) -> NoReturn:
    raise AssertionError(msg)


def assert_close(actual, expected, tol: dict[str, float], what: str) -> None:
    """``max|actual - expected| <= atol + rtol * max|expected|`` or AssertionError naming ``what``."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        _fail(f"{what}: shape {a.shape} != expected {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        _fail(f"{what}: non-finite values")
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    bound = tol["atol"] + tol["rtol"] * (float(np.max(np.abs(b))) if b.size else 0.0)
    if not err <= bound:
        _fail(f"{what}: max deviation {err:.3e} exceeds tolerance {bound:.3e}")


class SpecUnderTest:
    """What the conformance mixins share: the spec under test, the elements and the seed."""

    spec: ClassVar[ModelSpec | None] = None
    spec_kind: ClassVar[str] = "the ModelSpec"
    species: ClassVar[Sequence[int] | None] = None  # atomic numbers; None: the fixtures' elements
    seed: ClassVar[int] = 0

    def _spec(self) -> ModelSpec:
        if self.spec is None:
            _fail(f"{type(self).__name__} must set `spec` to {self.spec_kind} under test")
        return self.spec

    def _species(self) -> tuple[int, ...]:
        return tuple(sorted(int(z) for z in (self.species or structures.FIXTURE_SPECIES)))


class ModelConformance(SpecUnderTest):
    """Mixin with the conformance checks; subclass it in a ``Test*`` class and set ``spec``."""

    preset: ClassVar[str] = "smoke"
    # the named tolerances (TOLERANCES); a network that computes in float32 inside whatever the
    # dtype it is handed (CHGNet) declares wider ones, and says why
    tolerances: ClassVar[dict[str, dict[str, float]]] = TOLERANCES

    _built: ClassVar[dict] = {}

    # -- hooks for plugin authors ---------------------------------------------------------
    def prepare_model(self, model):
        """Called on the freshly built module (before wrapping); return the module to test."""
        return model

    # -- set-up -----------------------------------------------------------------------------
    @property
    def cutoff(self) -> float:
        return float(self._spec().preset(self.preset)["cutoff"])

    @property
    def capabilities(self):
        return self._spec().capabilities

    def build_potential(self):
        """Build (``spec.build``), wrap in NormalisedPotential, float64, eval mode. Seeded."""
        import torch

        from egbench_core.model.potential import NormalisedPotential

        spec = self._spec()
        cfg = spec.preset(self.preset)
        species = self._species()
        stats = fake_stats(species, self.cutoff)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = spec.build(species, self.cutoff, dict(cfg.get("model", {})), stats)
        model = self.prepare_model(model)
        if not isinstance(model, torch.nn.Module):
            _fail(f"spec.build returned {type(model).__name__}, expected a torch.nn.Module")
        pot = NormalisedPotential(model, stats, self.cutoff).to(torch.float64)
        pot.eval()
        return pot

    @property
    def potential(self):
        """The float64 potential, built once per test class."""
        key = (type(self), self.preset)
        if key not in ModelConformance._built:
            ModelConformance._built[key] = self.build_potential()
        return ModelConformance._built[key]

    def molecule(self):
        return structures.molecule(self._species())

    def box(self):
        return structures.periodic_box(self._species())

    def _structures(self):
        out = [("molecule", self.molecule())]
        if self.capabilities.periodic:
            out.append(("periodic box", self.box()))
        return out

    def _require_periodic(self) -> None:
        if not self.capabilities.periodic:
            import pytest

            pytest.skip(f"model {self._spec().name!r} declares capabilities.periodic = False")

    def _wants_stress(self, atoms_list) -> bool:
        return bool(self.capabilities.stress and all(np.asarray(a.pbc).all() for a in atoms_list))

    # -- evaluation helpers -----------------------------------------------------------------
    def graph(self, atoms_list, dtype=None):
        import torch

        from egbench_core.model.graph import collate, graph_parts

        parts = [graph_parts(a.positions, a.numbers, a.cell.array, a.pbc, self.cutoff) for a in atoms_list]
        return collate(parts, dtype=dtype or torch.float64, species=self._species())

    def evaluate(self, atoms_list, potential=None, stress: bool | None = None, dtype=None) -> dict[str, np.ndarray]:
        """Energy [B], forces [N,3] (and stress [B,3,3]) as float64 numpy arrays."""
        from egbench_core.model.potential import evaluate

        potential = potential if potential is not None else self.potential
        if stress is None:
            stress = self._wants_stress(atoms_list)
        out = evaluate(potential, self.graph(atoms_list, dtype), forces=True, stress=stress)
        return {k: v.detach().double().numpy() for k, v in out.items()}

    def energy_of_positions(self, graph, positions: np.ndarray) -> float:
        """Energy (eV) of a one-structure graph with its edges kept and new positions."""
        import torch

        g = replace(graph, positions=torch.as_tensor(positions, dtype=graph.positions.dtype))
        with torch.no_grad():
            return float(self.potential(g).sum())

    def reference_energy(self, atoms) -> float:
        e0 = dict(zip(self.potential.species, self.potential.e0.tolist()))
        return float(sum(e0[int(z)] for z in atoms.numbers))

    def assert_energy_close(
        self, e_actual: float | np.ndarray, e_expected: float | np.ndarray, atoms, tol, what: str
    ) -> None:
        ref = self.reference_energy(atoms)
        assert_close(np.atleast_1d(e_actual) - ref, np.atleast_1d(e_expected) - ref, tol, what)

    # -- the checks -------------------------------------------------------------------------
    def test_spec_metadata(self):
        spec = self._spec()
        missing = {"smoke", "quick", "paper", self.preset} - set(spec.presets)
        if missing:
            _fail(f"model {spec.name!r} lacks the presets {sorted(missing)}")
        for name, cfg in spec.presets.items():
            if not float(cfg["cutoff"]) > 0:
                _fail(f"preset {name!r}: cutoff must be positive (Å)")
            if "model" in cfg and not isinstance(cfg["model"], dict):
                _fail(f"preset {name!r}: 'model' must be a dict")
        if not (spec.citation and spec.licence):
            _fail(f"model {spec.name!r} must declare its citation and licence")

    def test_train_presets_parse(self):
        from egbench_core.model.train import TrainConfig

        for name, cfg in self._spec().presets.items():
            try:
                TrainConfig.from_dict(dict(cfg.get("train", {})))
            except Exception as exc:  # noqa: BLE001
                _fail(f"preset {name!r}: train settings do not parse: {exc}")

    def test_output_shapes_and_dtypes(self):
        import torch

        from egbench_core.model.potential import evaluate

        for name, atoms in self._structures():
            g = self.graph([atoms])
            out = evaluate(self.potential, g, forces=True, stress=self._wants_stress([atoms]))
            n = len(atoms)
            if tuple(out["energy"].shape) != (1,):
                _fail(f"{name}: energy shape {tuple(out['energy'].shape)}, expected (1,)")
            if out["energy"].dtype != torch.float64:
                _fail(f"{name}: energy dtype {out['energy'].dtype}, expected float64")
            if tuple(out["forces"].shape) != (n, 3):
                _fail(f"{name}: forces shape {tuple(out['forces'].shape)}, expected ({n}, 3)")
            if out["forces"].dtype != torch.float64:
                _fail(f"{name}: forces dtype {out['forces'].dtype}, expected float64 for a float64 model")
            if "stress" in out and tuple(out["stress"].shape) != (1, 3, 3):
                _fail(f"{name}: stress shape {tuple(out['stress'].shape)}, expected (1, 3, 3)")
            for k, v in out.items():
                if not torch.isfinite(v).all():
                    _fail(f"{name}: non-finite {k}")
            raw = self.potential.model(g)
            if tuple(raw.shape) != (1,):
                _fail(f"{name}: model.forward returned shape {tuple(raw.shape)}, expected [B] = (1,)")

    def test_energy_depends_on_positions(self):
        for name, atoms in self._structures():
            moved = atoms.copy()
            moved.positions[0] += np.array([0.15, -0.1, 0.05])
            e0, e1 = self.evaluate([atoms])["energy"][0], self.evaluate([moved])["energy"][0]
            if not abs(e1 - e0) > 1e-7:
                _fail(f"{name}: energy does not change when an atom moves ({e0!r} -> {e1!r})")
            f = self.evaluate([atoms])["forces"]
            if not np.abs(f).max() > 1e-7:
                _fail(f"{name}: forces are all zero")

    def test_energy_depends_on_species(self):
        species = self._species()
        if len(species) < 2:
            import pytest

            pytest.skip("one species only")
        for name, atoms in self._structures():
            other = atoms.copy()
            z = int(other.numbers[0])
            other.numbers[0] = next(s for s in species if s != z)
            de = (self.evaluate([other])["energy"][0] - self.reference_energy(other)) - (
                self.evaluate([atoms])["energy"][0] - self.reference_energy(atoms)
            )
            if not abs(de) > 1e-7:
                _fail(f"{name}: the model's energy does not depend on the elements")

    def test_forces_match_finite_differences(self):
        tol = self.tolerances["finite_difference"]
        h = tol["step"]
        for name, atoms in self._structures():
            g = self.graph([atoms])
            forces = self.evaluate([atoms], stress=False)["forces"]
            pos = atoms.positions.copy()
            fd = np.zeros_like(pos)
            for a in range(len(atoms)):
                for k in range(3):
                    p, m = pos.copy(), pos.copy()
                    p[a, k] += h
                    m[a, k] -= h
                    fd[a, k] = -(self.energy_of_positions(g, p) - self.energy_of_positions(g, m)) / (2 * h)
            assert_close(forces, fd, tol, f"{name}: forces vs -dE/dr by finite differences")

    def test_stress_matches_strain_finite_differences(self):
        self._require_periodic()
        if not self.capabilities.stress:
            import pytest

            pytest.skip("model declares capabilities.stress = False")
        import torch

        tol = self.tolerances["finite_difference"]
        h = tol["step"]
        atoms = self.box()
        stress = self.evaluate([atoms], stress=True)["stress"][0]
        g = self.graph([atoms])
        volume = abs(np.linalg.det(atoms.cell.array))
        fd = np.zeros((3, 3))
        for a in range(3):
            for b in range(3):
                eps = np.zeros((3, 3))
                eps[a, b] += 0.5 * h
                eps[b, a] += 0.5 * h
                energies = []
                for sign in (1.0, -1.0):
                    deform = np.eye(3) + sign * eps
                    gs = replace(
                        g,
                        positions=torch.as_tensor(atoms.positions @ deform, dtype=torch.float64),
                        cell=torch.as_tensor((atoms.cell.array @ deform)[None], dtype=torch.float64),
                    )
                    with torch.no_grad():
                        energies.append(float(self.potential(gs).sum()))
                fd[a, b] = (energies[0] - energies[1]) / (2 * h) / volume
        assert_close(stress, fd, tol, "periodic box: stress vs (1/V) dE/dstrain by finite differences")
        assert_close(stress, stress.T, self.tolerances["float64"], "periodic box: stress symmetric")

    def test_rotation_equivariance(self):
        tol = self.tolerances["float64"]
        rot = structures.random_rotation(self.seed + 1)
        for name, atoms in self._structures():
            rotated = structures.rotated(atoms, rot)
            ref, out = self.evaluate([atoms]), self.evaluate([rotated])
            self.assert_energy_close(out["energy"], ref["energy"], atoms, tol, f"{name}: energy under rotation")
            assert_close(out["forces"], ref["forces"] @ rot.T, tol, f"{name}: forces rotate with the structure")
            if "stress" in ref:
                assert_close(out["stress"][0], rot @ ref["stress"][0] @ rot.T, tol, f"{name}: stress rotates")

    def test_translation_invariance(self):
        tol = self.tolerances["float64"]
        shift = np.array([1.3, -0.7, 2.9])
        for name, atoms in self._structures():
            ref = self.evaluate([atoms])
            variants = [("translated", atoms.copy())]
            variants[0][1].positions += shift
            if np.asarray(atoms.pbc).all():
                wrapped = variants[0][1].copy()
                wrapped.wrap()
                variants.append(("translated and wrapped into the cell", wrapped))
            for how, moved in variants:
                out = self.evaluate([moved])
                self.assert_energy_close(out["energy"], ref["energy"], atoms, tol, f"{name}: energy {how}")
                assert_close(out["forces"], ref["forces"], tol, f"{name}: forces {how}")
                if "stress" in ref:
                    assert_close(out["stress"], ref["stress"], tol, f"{name}: stress {how}")

    def test_permutation_invariance(self):
        tol = self.tolerances["float64"]
        rng = np.random.default_rng(self.seed + 2)
        for name, atoms in self._structures():
            perm = rng.permutation(len(atoms))
            while len(atoms) > 1 and (perm == np.arange(len(atoms))).all():
                perm = rng.permutation(len(atoms))
            permuted = atoms[perm]
            ref, out = self.evaluate([atoms]), self.evaluate([permuted])
            self.assert_energy_close(out["energy"], ref["energy"], atoms, tol, f"{name}: energy under permutation")
            assert_close(out["forces"], ref["forces"][perm], tol, f"{name}: forces permute with the atoms")

    def test_batch_equals_one_by_one(self):
        tol = self.tolerances["float64"]
        structs = [a for _, a in self._structures()]
        moved = structs[0].copy()
        moved.positions[1] += 0.1
        structs = structs + [moved]
        singles = [self.evaluate([a], stress=False) for a in structs]
        batch = self.evaluate(structs, stress=False)
        offset = 0
        for k, (a, one) in enumerate(zip(structs, singles)):
            self.assert_energy_close(batch["energy"][k], one["energy"][0], a, tol, f"structure {k}: batched energy")
            assert_close(
                batch["forces"][offset : offset + len(a)], one["forces"], tol, f"structure {k}: batched forces"
            )
            offset += len(a)
        if self.capabilities.periodic and self.capabilities.stress:
            box = self.box()
            pair = self.evaluate([box, box], stress=True)
            one = self.evaluate([box], stress=True)
            for k in range(2):
                assert_close(pair["stress"][k], one["stress"][0], tol, f"batched stress of box {k}")

    def test_periodic_images(self):
        """A supercell is the same crystal: N x the energy, the same forces (and stress)."""
        self._require_periodic()
        tol = self.tolerances["float64"]
        box = self.box()
        # the fixture is meant to make atoms see their own images; check it for this cutoff
        from egbench_core.model.graph import neighbour_list

        i, j, s = neighbour_list(box.positions, box.cell.array, box.pbc, self.cutoff)
        if not ((i == j) & (np.abs(s).sum(1) > 0)).any():
            _fail(f"fixture: no self-image edges at cutoff {self.cutoff} Å; the periodic test would be weak")
        ref = self.evaluate([box])
        for reps in ((2, 1, 1), (2, 2, 2)):
            n = int(np.prod(reps))
            sup = box.repeat(reps)
            out = self.evaluate([sup])
            ref_e = self.reference_energy(box)
            assert_close(
                out["energy"] - n * ref_e,
                n * (ref["energy"] - ref_e),
                tol,
                f"{reps} supercell: energy = {n} x the cell's",
            )
            assert_close(out["forces"], np.tile(ref["forces"], (n, 1)), tol, f"{reps} supercell: forces per atom")
            if "stress" in ref:
                assert_close(out["stress"], ref["stress"], tol, f"{reps} supercell: stress")

    def test_float32_matches_float64(self):
        import torch

        tol = self.tolerances["float32"]
        # only the model goes to float32: the reference energies stay float64 (converting them to
        # float32 and back would round E0 by ~1e-4 eV and hide the model's own float32 error)
        pot32 = copy.deepcopy(self.potential)
        pot32.model.to(torch.float32)
        for name, atoms in self._structures():
            ref = self.evaluate([atoms], stress=False)
            out = self.evaluate([atoms], potential=pot32, stress=False, dtype=torch.float32)
            ref_e = self.reference_energy(atoms)
            assert_close(
                out["energy"] - ref_e,
                ref["energy"] - ref_e,
                {"atol": tol["atol"] * len(atoms), "rtol": tol["rtol"]},
                f"{name}: float32 energy",
            )
            assert_close(out["forces"], ref["forces"], tol, f"{name}: float32 forces")

    def test_same_numbers_on_cuda(self):
        """Built on the CPU, moved to CUDA: the same energies and forces within the dtype's
        tolerance (float64 here). Runs wherever CUDA exists; skipped on machines without it."""
        import torch

        if not torch.cuda.is_available():
            import pytest

            pytest.skip("no CUDA device on this machine: the device check runs where one exists")
        from egbench_core.model.potential import evaluate

        tol = self.tolerances["float64"]
        gpu = copy.deepcopy(self.potential).to("cuda")
        for name, atoms in self._structures():
            ref = self.evaluate([atoms], stress=False)
            out = evaluate(gpu, self.graph([atoms]).to("cuda"), forces=True)
            assert str(out["forces"].device).startswith("cuda"), (
                f"{name}: forces were computed on {out['forces'].device}"
            )
            ref_e = self.reference_energy(atoms)
            assert_close(
                out["energy"].detach().cpu().double().numpy() - ref_e,
                ref["energy"] - ref_e,
                {"atol": tol["atol"] * len(atoms), "rtol": tol["rtol"]},
                f"{name}: energy on CUDA",
            )
            assert_close(out["forces"].detach().cpu().double().numpy(), ref["forces"], tol, f"{name}: forces on CUDA")

    def test_seed_decides_the_weights(self):
        """egbench's seed alone decides a new network's weights (``--seeds`` relies on it): the same
        seed builds the same weights, another seed other weights."""
        if self._spec().mode != "from-scratch":
            import pytest

            pytest.skip("a pretrained network's weights come from its checkpoint, not the seed")
        import torch

        spec = self._spec()
        species = self._species()
        params = dict(spec.preset(self.preset).get("model", {}))

        def weights(seed: int):
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                model = spec.build(species, self.cutoff, params, fake_stats(species, self.cutoff))
            return torch.cat([p.detach().flatten() for p in model.parameters()])

        first = weights(self.seed + 3)
        if not torch.equal(first, weights(self.seed + 3)):
            _fail("the same seed built different weights: the model draws from an unseeded source")
        if torch.equal(first, weights(self.seed + 4)):
            _fail("another seed built the same weights: the model ignores torch's seed")

    def test_parameters_receive_gradients(self):
        """The force loss the trainer uses must reach the weights (double backward works)."""
        if not self.capabilities.trainable:
            import pytest

            pytest.skip("model declares capabilities.trainable = False")
        import torch

        from egbench_core.model.potential import evaluate

        pot = copy.deepcopy(self.potential)
        pot.train()
        params = [p for p in pot.parameters() if p.requires_grad]
        if not params:
            _fail("model has no trainable parameters")
        structs = [a for _, a in self._structures()]
        out = evaluate(pot, self.graph(structs), forces=True, create_graph=True)
        loss = (out["forces"] ** 2).mean() + ((out["energy"] - out["energy"].detach().mean()) ** 2).mean()
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        norms = [float(g.norm()) for g in grads if g is not None]
        if not norms or not all(np.isfinite(norms)):
            _fail("parameter gradients are missing or non-finite")
        if not max(norms) > 0:
            _fail("the force loss does not reach any parameter (all gradients zero)")
