"""The conformance kit itself: the toy model passes it, and broken models are caught by the
specific check that should catch them (so the kit's checks can fail)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from egbench_core.interfaces import Capabilities
from egbench_core.model.graph import neighbour_list
from egbench_core.model.train import TrainConfig
from egbench_core.plugins import load_catalog
from egbench_core.testing import (
    FIXTURE_SPECIES,
    TOLERANCES,
    FakeModelPlugin,
    ModelConformance,
    molecule,
    periodic_box,
    toy_pair_spec,
)
from egbench_core.testing.fakes import build_toy_pair


# -- the toy model passes ----------------------------------------------------------------
class TestToyPairConformance(ModelConformance):
    spec = toy_pair_spec()


class TestToyPairQuickPreset(ModelConformance):
    spec = toy_pair_spec()
    preset = "quick"
    species = (1, 6, 8)  # the fixtures are relabelled onto the model's elements


class TestNonPeriodicModelSkipsPeriodicChecks(ModelConformance):
    spec = toy_pair_spec(name="toy-molecular", capabilities=Capabilities(periodic=False))

    def test_periodic_checks_skip(self):
        with pytest.raises(pytest.skip.Exception):
            self.test_periodic_images()
        with pytest.raises(pytest.skip.Exception):
            self.test_stress_matches_strain_finite_differences()


# -- fixtures and plugin -------------------------------------------------------------------
def test_fixtures_are_deterministic_and_as_described():
    m1, m2 = molecule(), molecule()
    assert np.array_equal(m1.positions, m2.positions) and len(m1) == 9 and not m1.pbc.any()
    assert set(m1.numbers) == {1, 6, 8}
    b = periodic_box()
    assert np.array_equal(b.positions, periodic_box().positions) and b.pbc.all()
    assert tuple(sorted(set(m1.numbers) | set(b.numbers))) == FIXTURE_SPECIES
    i, j, s = neighbour_list(b.positions, b.cell.array, b.pbc, 4.0)
    assert ((i == j) & (np.abs(s).sum(1) > 0)).any(), "box atoms must see their own images"
    assert set(periodic_box((1, 6)).numbers) <= {1, 6}


def test_fake_plugin_registers_toy_pair_through_the_hook():
    cat = load_catalog(extra_plugins=[FakeModelPlugin()], entry_points=False)
    spec = cat.get("models", "toy-pair")
    assert spec.plugin == "FakeModelPlugin"
    assert set(spec.presets) == {"smoke", "quick", "paper"}
    smoke = TrainConfig.from_dict(spec.preset("smoke")["train"])
    assert (smoke.epochs, smoke.batch_size, smoke.lr) == (3, 8, 1e-2)


# -- broken models are caught ------------------------------------------------------------------
def _broken(name: str, forward_extra):
    """A toy-pair variant whose forward is replaced by ``forward_extra(module, graph)``."""

    def build(species, cutoff, params, stats):
        model = build_toy_pair(species, cutoff, params, stats)
        model.forward = lambda graph, _m=model: forward_extra(_m, graph)
        return model

    return toy_pair_spec(name=name, build=build)


def _pair_terms(m, graph, vec):
    return m.energy_from_vectors(graph, vec)


def _uses_absolute_positions(m, graph):
    absolute = torch.zeros(graph.num_graphs, dtype=graph.positions.dtype)
    absolute = absolute.index_add(0, graph.batch, 0.05 * torch.sin(graph.positions).sum(-1))
    return _pair_terms(m, graph, graph.edge_vectors()) + absolute


def _ignores_shifts(m, graph):
    i, j = graph.edge_index
    vec = graph.positions[j] - graph.positions[i]
    # self-image edges have zero length without their shift: keep them finite
    vec = torch.where((i == j)[:, None], torch.full_like(vec, 10.0), vec)
    return _pair_terms(m, graph, vec)


def _detached_vectors(m, graph):
    return _pair_terms(m, graph, graph.edge_vectors().detach())


def _depends_on_atom_order(m, graph):
    vec = graph.edge_vectors()
    i, _ = graph.edge_index
    r = torch.linalg.norm(vec, dim=-1)
    idx = i.to(vec.dtype)
    extra = torch.zeros(graph.num_graphs, dtype=vec.dtype).index_add(0, graph.batch[i], 1e-2 * idx * torch.exp(-r))
    return _pair_terms(m, graph, vec) + extra


def _mixes_batch(m, graph):
    e = _pair_terms(m, graph, graph.edge_vectors())
    return e + 0.1 * e.mean()  # leaks between structures of a batch


def _species_blind(m, graph):
    g = replace(graph, species=torch.zeros_like(graph.species))
    return _pair_terms(m, g, graph.edge_vectors())


def _not_extensive(m, graph):
    e = _pair_terms(m, graph, graph.edge_vectors())
    return e / graph.n_atoms.to(e.dtype)  # per-atom energy returned as if total


class _Kit(ModelConformance):
    """Not collected by pytest (name does not start with Test): checks are called directly."""


def kit_for(spec):
    return type(f"Kit_{spec.name.replace('-', '_')}", (_Kit,), {"spec": spec})()


@pytest.mark.parametrize(
    ("forward", "check"),
    [
        (_uses_absolute_positions, "test_translation_invariance"),
        (_uses_absolute_positions, "test_rotation_equivariance"),
        (_ignores_shifts, "test_periodic_images"),
        (_detached_vectors, "test_forces_match_finite_differences"),
        (_depends_on_atom_order, "test_permutation_invariance"),
        (_mixes_batch, "test_batch_equals_one_by_one"),
        (_species_blind, "test_energy_depends_on_species"),
        (_not_extensive, "test_periodic_images"),
    ],
)
def test_kit_catches_broken_model(forward, check):
    kit = kit_for(_broken(f"broken-{forward.__name__.strip('_').replace('_', '-')}", forward))
    with pytest.raises(AssertionError):
        getattr(kit, check)()


def test_broken_models_are_otherwise_sound():
    """The failures above are specific: e.g. the shift-ignoring model still has exact forces,
    and the absolute-position model is still permutation invariant."""
    kit_for(_broken("sound-1", _ignores_shifts)).test_forces_match_finite_differences()
    kit_for(_broken("sound-2", _uses_absolute_positions)).test_permutation_invariance()
    kit_for(_broken("sound-3", _detached_vectors)).test_translation_invariance()


def test_stress_check_catches_wrong_cell_dependence():
    """Shifts built from a detached copy of the cell: forces are right, the stress is not."""

    def stale_cell(m, graph):
        shifts = torch.einsum(
            "ek,ekl->el", graph.unit_shifts.to(graph.cell.dtype), graph.cell.detach()[graph.batch[graph.edge_index[0]]]
        )
        i, j = graph.edge_index
        return _pair_terms(m, graph, graph.positions[j] - graph.positions[i] + shifts)

    with pytest.raises(AssertionError):
        kit_for(_broken("stale-cell", stale_cell)).test_stress_matches_strain_finite_differences()


def test_missing_spec_is_reported():
    with pytest.raises(AssertionError, match="must set `spec`"):
        _Kit().test_output_shapes_and_dtypes()


def test_tolerances_are_named():
    assert {"float64", "float32", "finite_difference"} <= set(TOLERANCES)
    assert TOLERANCES["float64"]["atol"] < TOLERANCES["float32"]["atol"]


def test_seed_check_catches_a_model_that_seeds_itself():
    def seeds_itself(species, cutoff, params, stats):
        torch.manual_seed(1234)  # a framework default seed: --seeds would all train the same network
        return build_toy_pair(species, cutoff, params, stats)

    kit = kit_for(toy_pair_spec(name="seeds-itself", build=seeds_itself))
    with pytest.raises(AssertionError, match="another seed built the same weights"):
        kit.test_seed_decides_the_weights()
    kit_for(toy_pair_spec(name="seeded-by-egbench")).test_seed_decides_the_weights()
