"""Per-element reference energies (PROTOCOL.md, "Reference energies") on a two-composition set
whose answer is known: frames of ethanol (C2H6O) and methanol (CH4O) labelled by
E = Σ_i E0[Z_i] + Σ_pairs A·exp(−r/ρ), with the E0 of acac's isolated atoms.

Trained on ethanol only, least squares cannot separate H, C and O: the minimum-norm E0s put
hundreds of eV of bookkeeping error on methanol. Declared isolated-atom energies fix that; without
them the energy on methanol is *not applicable* (forces still count)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from egbench_core.data.readers import Frames
from egbench_core.model.stats import E0_ISOLATED, E0_LSTSQ, composition_matrix, compute_stats, energy_transfer_reason

E0_TRUE = {1: -13.568422178253735, 6: -1026.8538996116154, 8: -2037.796869412825}  # acac's isolated atoms (eV)
A, RHO = 2.0, 0.6  # pair repulsion (eV, Å)


def _label(atoms) -> tuple[float, np.ndarray]:
    pos = atoms.positions
    d = pos[:, None, :] - pos[None, :, :]
    r = np.linalg.norm(d, axis=-1)
    np.fill_diagonal(r, np.inf)
    e_pair = A * np.exp(-r / RHO)
    energy = sum(E0_TRUE[int(z)] for z in atoms.numbers) + 0.5 * e_pair.sum()
    forces = ((e_pair / (RHO * r))[:, :, None] * d).sum(axis=1)  # -dE/dr_i
    return float(energy), forces


def _frames(name: str, n: int, seed: int) -> Frames:
    from ase.build import molecule

    rng = np.random.default_rng(seed)
    snaps, es, fs = [], [], []
    for _ in range(n):
        a = molecule(name)
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        e, f = _label(a)
        snaps.append(a)
        es.append(e)
        fs.append(f)
    return Frames.from_atoms(snaps, es, fs, source=name)


@pytest.fixture(scope="module")
def sets():
    return {
        "ethanol": _frames("CH3CH2OH", 60, 0),
        "methanol": _frames("CH3OH", 20, 1),
        "water": _frames("H2O", 20, 2),
        "formaldehyde": _frames("H2CO", 20, 3),
    }


def _bookkeeping_error(stats, frames: Frames) -> float:
    """Mean |E_ref-part − E| per structure when the model itself contributes nothing."""
    e0 = dict(zip(stats.species, stats.e0))
    ref = np.array(
        [sum(e0[int(z)] + stats.shift for z in frames.numbers[frames.atoms_slice(k)]) for k in range(len(frames))]
    )
    return float(np.mean(np.abs(ref - frames.energy)))


def test_one_composition_without_isolated_atoms_is_undetermined(sets):
    st = compute_stats(sets["ethanol"], cutoff=4.0)
    assert st.e0_source.startswith("least squares, undetermined") and "span 1 of 3" in st.e0_source
    assert st.training_formulas == ("C2H6O",)
    # the minimum-norm E0s are exact on ethanol and absurd on methanol: hundreds of eV
    assert _bookkeeping_error(st, sets["ethanol"]) < 0.1
    assert _bookkeeping_error(st, sets["methanol"]) > 100.0
    why = energy_transfer_reason(st, sets["methanol"])
    assert why.startswith("not applicable:") and "C2H6O" in why and "CH4O" in why and "forces still count" in why
    assert energy_transfer_reason(st, sets["ethanol"]) is None
    # a multiple of the training composition is in its span: two ethanol molecules in one frame are fine
    two = Frames.concatenate([sets["ethanol"].subset([0])])
    two = Frames(
        np.concatenate([two.positions, two.positions + 10.0]),
        np.tile(two.numbers, 2),
        [18],
        two.cell,
        two.pbc,
        two.energy * 2,
        np.concatenate([two.forces, two.forces]),
    )
    assert energy_transfer_reason(st, two) is None


def test_isolated_atom_energies_make_transfer_physically_sized(sets):
    st = compute_stats(sets["ethanol"], cutoff=4.0, isolated_atom_energies=E0_TRUE)
    assert st.e0_source == E0_ISOLATED and st.e0 == tuple(E0_TRUE[z] for z in (1, 6, 8))
    assert st.composition_basis == () and energy_transfer_reason(st, sets["methanol"]) is None
    # the shift is ethanol's mean pair energy per atom; on methanol an untrained model is off by
    # the difference of pair energies per atom times 6 atoms: about an eV, not hundreds
    pair_per_atom = np.mean(
        (sets["ethanol"].energy - composition_matrix(sets["ethanol"], st.species) @ st.e0) / sets["ethanol"].n_atoms
    )
    assert st.shift == pytest.approx(pair_per_atom, rel=1e-12)
    assert _bookkeeping_error(st, sets["methanol"]) < 3.0
    with pytest.raises(ValueError, match="lack O"):
        compute_stats(sets["ethanol"], cutoff=4.0, isolated_atom_energies={1: -13.6, 6: -1027.0})


def test_three_compositions_determine_least_squares(sets):
    # ethanol, methanol and water alone would not do: C2H6O = 2·CH4O − H2O, they span 2 of 3 elements
    dependent = compute_stats(Frames.concatenate([sets["ethanol"], sets["methanol"], sets["water"]]), cutoff=4.0)
    assert "span 2 of 3" in dependent.e0_source
    mixed = Frames.concatenate([sets["ethanol"], sets["methanol"], sets["formaldehyde"]])
    st = compute_stats(mixed, cutoff=4.0)
    assert st.e0_source == E0_LSTSQ and st.composition_basis == ()
    assert energy_transfer_reason(st, sets["water"]) is None  # any composition of H, C, O is determined
    # the fit absorbs the pair energy into the E0s: within a few eV per element of the truth
    for z, e in zip(st.species, st.e0):
        assert abs(e - E0_TRUE[z]) < 3.0
    assert _bookkeeping_error(st, sets["water"]) < 3.0


# -- end to end: a dataset whose test split is another composition -----------------------------
def _write(path, frames: Frames) -> str:
    from egbench_core.data.readers import write_extxyz

    with open(path, "w") as fh:
        for k in range(len(frames)):
            write_extxyz(fh, frames.to_atoms(k), frames.energy[k], frames.forces[frames.atoms_slice(k)])
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def alcohols(tmp_path, monkeypatch, sets):
    cache = tmp_path / "egbench-cache"
    (cache / "user").mkdir(parents=True)
    sha = {name: _write(cache / "user" / f"{name}.xyz", sets[name]) for name in ("ethanol", "methanol")}
    table = "\n".join(
        f'[files."user/{n}.xyz"]\nurl = "https://example.invalid/{n}.xyz"\nsha256 = "{h}"\n'
        f'format = "extxyz"\nunits = {{ energy = "eV", forces = "eV/Å", length = "Å" }}\n'
        for n, h in sha.items()
    )
    e0 = ", ".join(f"{s} = {E0_TRUE[z]!r}" for s, z in (("H", 1), ("C", 6), ("O", 8)))
    for ds, extra in (("alcohols", f"isolated_atom_energies = {{ {e0} }}\n"), ("alcohols-no-e0", "")):
        table += f"""
[datasets.{ds}]
elements = ["H", "C", "O"]
periodic = false
temperature_K = 300.0
timestep_fs = 0.5
{extra}[datasets.{ds}.splits.train]
file = "user/ethanol.xyz"
select = {{ range = [0, 50] }}
[datasets.{ds}.splits.val]
file = "user/ethanol.xyz"
select = {{ range = [50, 60] }}
[datasets.{ds}.splits.test]
file = "user/methanol.xyz"
"""
    reg = tmp_path / "alcohols.toml"
    reg.write_text(table)
    monkeypatch.setenv("EGBENCH_REGISTRY", str(reg))
    return reg


@pytest.mark.slow
def test_composition_transfer_cell_is_physically_sized_or_not_applicable(alcohols, tmp_path, toy):
    from egbench_core.plugins import load_catalog
    from egbench_core.report.leaderboard import leaderboard, to_csv
    from egbench_core.run.runner import plan_cells, run_cells
    from egbench_core.store import Store

    cat = load_catalog(extra_plugins=[toy.Plugin()], entry_points=False)
    assert cat.datasets["alcohols"].isolated_atom_energies() == E0_TRUE
    cells = plan_cells(cat, "toy-pair", "alcohols,alcohols-no-e0", preset="smoke")
    store = Store(tmp_path / "out")
    summary = run_cells(cells, cat, store)
    assert summary.done == 2, [store.cell(c.key).error for c in cells]
    m = {c.dataset: {(x["name"], x["split"]): x for x in store.metrics(c.key)} for c in cells}
    with_e0, without = m["alcohols"], m["alcohols-no-e0"]
    assert 0 < with_e0[("energy_mae", "test")]["value"] < 5.0  # eV on 6-atom methanol: physical, not bookkeeping
    assert without[("energy_mae", "test")]["value"] is None  # NaN is stored as NULL
    note = without[("energy_mae", "test")]["note"]
    assert note.startswith("not applicable") and "C2H6O" in note and "CH4O" in note
    for d in (with_e0, without):  # forces still count
        assert 0 < d[("force_mae", "test")]["value"] < 10.0
    info = {c.dataset: store.cell(c.key).info["stats"] for c in cells}
    assert info["alcohols"]["e0_source"] == E0_ISOLATED and info["alcohols-no-e0"]["composition_basis"]
    rows = {r[1]: r for r in leaderboard(store).rows}
    assert rows["alcohols-no-e0"][6] == "n/a" and rows["alcohols"][6] not in ("n/a", "error", "—")
    assert "not applicable" not in to_csv(leaderboard(store))  # the reason of an n/a is in the metric's note
