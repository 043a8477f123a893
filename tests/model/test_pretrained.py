"""Pretrained networks through the model seam (core's ``pretrained_models``): zero-shot cells keep
the network's own forces and refit per-element energy offsets on the training split; fine-tuned
cells train it further with egbench's trainer; reports group rows by how the model met the data.

The "pretrained network" is a real one: a smooth pair potential over atomic numbers whose weights
were fitted (below, once per session) to EMT on a different copper/gold system than synthetic-emt's,
plus a constant per element, as a network trained on another DFT's reference energies would carry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from egbench_core.interfaces import pretrained_models
from egbench_core.model.graph import collate, frames_to_parts
from egbench_core.model.potential import evaluate
from egbench_core.model.stats import composition_matrix
from egbench_core.plugins import load_catalog
from egbench_core.report.leaderboard import cell_mode, leaderboard, to_csv, to_markdown
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store

CUTOFF = 4.0
OTHER_REFERENCE = {29: 3.0, 79: -1.5}  # eV per atom the network carries (another DFT's zero)


class PairOverZ(torch.nn.Module):
    """E = Σ_i c[Z_i] + ½ Σ_(i,j) Σ_k W[Z_i, Z_j, k] exp(-γ (r_ij - μ_k)²) f_c(r_ij), in eV."""

    def __init__(self, weights: torch.Tensor, per_element: dict[int, float]):
        super().__init__()
        self.weights = torch.nn.Parameter(weights.clone())
        constant = torch.zeros(100, dtype=weights.dtype)
        for z, c in per_element.items():
            constant[z] = c
        self.register_buffer("constant", constant)
        self.register_buffer("centres", torch.linspace(1.5, CUTOFF, weights.shape[-1], dtype=weights.dtype))

    def forward(self, graph) -> torch.Tensor:
        vec = graph.edge_vectors()
        r = torch.linalg.norm(vec, dim=-1)
        i, j = graph.edge_index
        z = graph.atomic_numbers
        w = 0.5 * (self.weights + self.weights.transpose(0, 1))
        basis = torch.exp(-4.0 * (r[:, None] - self.centres.to(r.dtype)) ** 2)
        fc = 0.5 * (torch.cos(math.pi * r / CUTOFF) + 1.0)
        pair = 0.5 * (w[z[i], z[j]].to(r.dtype) * basis).sum(-1) * fc
        out = torch.zeros(graph.num_graphs, dtype=r.dtype, device=r.device).index_add(0, graph.batch[i], pair)
        return out.index_add(0, graph.batch, self.constant.to(r.dtype)[z])


@pytest.fixture(scope="module")
def pretrained_weights():
    """Pair weights fitted to EMT forces on rattled Cu/Au fcc cells (not synthetic-emt's frames)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    structures = []
    rng = np.random.default_rng(7)
    for k in range(12):
        a = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 1, 1))
        a.numbers[rng.choice(len(a), size=3, replace=False)] = 79
        a.rattle(0.15, seed=k)
        a.calc = EMT()
        structures.append((a, a.get_forces()))
    from egbench_core.model.graph import graph_parts

    parts = [graph_parts(a.positions, a.numbers, a.cell.array, a.pbc, CUTOFF) for a, _ in structures]
    forces = torch.from_numpy(np.concatenate([f for _, f in structures]))
    torch.manual_seed(0)
    net = PairOverZ(0.01 * torch.randn(100, 100, 6, dtype=torch.float64), {})
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    g = collate(parts, dtype=torch.float64)
    for _ in range(150):
        opt.zero_grad()
        loss = ((evaluate(net, g, forces=True, create_graph=True)["forces"] - forces) ** 2).mean()
        loss.backward()
        opt.step()
    return net.weights.detach().clone()


def plugin(weights, name="pair-z", per_element=OTHER_REFERENCE, epochs=15):
    specs = pretrained_models(
        name,
        lambda: PairOverZ(weights, per_element),
        cutoff=CUTOFF,
        finetune={"smoke": {"epochs": epochs, "batch_size": 4, "lr": 0.02}},
        version="1",
        description="pair potential over Z (tests)",
        elements=[29, 79],
    )

    class Plugin:
        from egbench_core import hookimpl

        @hookimpl
        def register_models(self, register):
            for s in specs:
                register(s)

    return Plugin()


def _run(cat, models, folder):
    store = Store(folder)
    summary = run_cells(
        plan_cells(cat, models, "synthetic-emt", "standard", preset="smoke"), cat, store, argv=["pytest"]
    )
    assert summary.failed == 0, [c.error for c in store.cells("failed")]
    return store


def _artifact(store, row, name):
    return next(p for _, p in store.artifacts(row.key) if p.name == name)


def _static(store, row):
    return {(m["name"], m["split"]): m["value"] for m in store.metrics(row.key)}


@pytest.fixture(scope="module")
def run(emt_data_dir, pretrained_weights, tmp_path_factory):
    """One run of the zero-shot, fine-tuned and constant-free ("plain") cells on synthetic-emt,
    shared by the tests below."""
    import types

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EGBENCH_DATA_DIR", str(emt_data_dir))
        cat = load_catalog(
            extra_plugins=[plugin(pretrained_weights), plugin(pretrained_weights, "pair-z-plain", {})],
            entry_points=False,
        )
        store = _run(cat, "pair-z,pair-z-plain,pair-z-ft", tmp_path_factory.mktemp("pretrained") / "results")
    return types.SimpleNamespace(cat=cat, store=store, rows={r.model: r for r in store.cells("done")})


def test_specs_of_a_pretrained_network(pretrained_weights):
    zero, tuned = pretrained_models("pair-z", lambda: None, cutoff=4.0, finetune={"quick": {"epochs": 3}})
    assert (zero.name, zero.mode, zero.capabilities.trainable) == ("pair-z", "zero-shot", False)
    assert (tuned.name, tuned.mode, tuned.capabilities.trainable) == ("pair-z-ft", "fine-tuned", True)
    assert zero.presets["quick"] == {"cutoff": 4.0} and tuned.presets["quick"] == {
        "cutoff": 4.0,
        "train": {"epochs": 3},
    }
    assert [s.name for s in pretrained_models("pair-z", lambda: None, cutoff=4.0)] == ["pair-z"]
    with pytest.raises(ValueError, match="mode 'pretrained'"):
        type(zero)(name="x", build=zero.build, presets={}, mode="pretrained")


@pytest.mark.slow
def test_zero_shot_keeps_the_networks_forces_and_refits_the_offsets(emt_env, run, pretrained_weights):
    cat, store, row = run.cat, run.store, run.rows["pair-z"]
    model = row.info["model"]
    assert model["mode"] == "zero-shot" and model["energy"] == "zero-shot (E0 refit)"
    assert row.info["train"]["stop_reason"].startswith("not trained: pretrained network")
    ds = cat.datasets["synthetic-emt"]
    test = ds.load("test")
    z = np.load(_artifact(store, row, "predictions-test.npz"))
    # the network's own forces and energies, computed here directly
    net = PairOverZ(pretrained_weights, OTHER_REFERENCE)
    parts = frames_to_parts(test, CUTOFF)
    idx = np.flatnonzero(np.isin(test.energy, z["ref_energy"]))  # the evaluated frames (a subset, or all)
    assert np.array_equal(test.energy[idx], z["ref_energy"])
    out = evaluate(net, collate([parts[i] for i in idx], dtype=torch.float32), forces=True)
    np.testing.assert_allclose(z["forces"], out["forces"].detach().double().numpy(), atol=2e-5)
    np.testing.assert_allclose(z["raw_energy"], out["energy"].detach().double().numpy(), rtol=1e-6)
    # the offsets: least squares of (E_ref - E_raw) over the training split's compositions
    from egbench_core.run.execute import subset_indices
    from egbench_core.run.protocol import protocol

    train = ds.load("train")
    keep = subset_indices(train, protocol("smoke"), "train")  # the frames the cell trained on
    train = train if keep is None else train.subset(keep)
    assert len(train) == row.info["n_frames"]["train"]
    raw = evaluate(net, collate(frames_to_parts(train, CUTOFF), dtype=torch.float32), forces=False)["energy"]
    delta, *_ = np.linalg.lstsq(
        composition_matrix(train, [29, 79]), train.energy - raw.detach().double().numpy(), rcond=None
    )
    offsets = {int(k): v for k, v in model["offsets_eV"].items()}
    assert offsets == pytest.approx({29: delta[0], 79: delta[1]}, abs=1e-4)
    counts = composition_matrix(test, [29, 79])[idx]
    np.testing.assert_allclose(z["energy"], z["raw_energy"] + counts @ delta, rtol=0, atol=1e-3)
    ms = _static(store, row)
    assert ms[("force_mae", "test")] == pytest.approx(np.abs(z["forces"] - z["ref_forces"]).mean(), rel=1e-9)
    assert ms[("force_mae", "test")] > 0.01  # the network is not EMT: there is something to fine-tune


@pytest.mark.slow
def test_the_offsets_absorb_another_reference_exactly(emt_env, run):
    """The same network without its per-element constants gives the same energies after the refit."""
    cat, store, rows = run.cat, run.store, {m: run.rows[m] for m in ("pair-z", "pair-z-plain")}
    a, b = (np.load(_artifact(store, rows[m], "predictions-test.npz")) for m in ("pair-z", "pair-z-plain"))
    np.testing.assert_allclose(a["energy"], b["energy"], atol=2e-3)
    assert np.abs(a["raw_energy"] - b["raw_energy"]).min() > 10.0  # 8+ atoms × (3.0 or -1.5) eV apart
    # synthetic-emt trains on one composition: the offsets are determined on it (minimum norm
    # otherwise), and there they cancel the constants exactly
    off = {m: np.array([rows[m].info["model"]["offsets_eV"][str(z)] for z in (29, 79)]) for m in rows}
    test = cat.datasets["synthetic-emt"].load("test")
    counts = composition_matrix(test, [29, 79])[np.flatnonzero(np.isin(test.energy, a["ref_energy"]))]
    constants = np.array([OTHER_REFERENCE[29], OTHER_REFERENCE[79]])
    np.testing.assert_allclose(counts @ (off["pair-z"] - off["pair-z-plain"]), -(counts @ constants), atol=1e-3)


@pytest.mark.slow
def test_fine_tuning_starts_from_the_checkpoint_and_improves_on_zero_shot(emt_env, run, pretrained_weights, tmp_path):
    store, rows = run.store, run.rows
    tuned = rows["pair-z-ft"]
    assert tuned.info["model"]["mode"] == "fine-tuned" and tuned.info["model"]["energy"].startswith("fine-tuned")
    assert tuned.info["model"]["offsets_eV"] == rows["pair-z"].info["model"]["offsets_eV"]  # same refit first
    assert tuned.info["train"]["epochs_run"] == 15
    f_zero, f_tuned = (_static(store, rows[m])[("force_mae", "test")] for m in ("pair-z", "pair-z-ft"))
    assert f_tuned < 0.8 * f_zero, (f_zero, f_tuned)
    # fine-tuning moved the checkpoint's weights (saved in the cell's model.pt)
    state = torch.load(_artifact(store, tuned, "model.pt"), weights_only=False)["state_dict"]
    moved = state["model.network.weights"].double() - pretrained_weights
    assert float(moved[29, 79].abs().max()) > 1e-3  # the Cu-Au pair, which the data constrains
    assert float(moved[1, 6].abs().max()) < 1e-6  # a pair absent from the data keeps the checkpoint's value

    # the report groups rows: from-scratch, then zero-shot, then fine-tuned
    lb = leaderboard(store)
    assert lb.groups == ["zero-shot", "zero-shot", "fine-tuned"]
    assert [r[0] for r in lb.rows] == ["pair-z [smoke]", "pair-z-plain [smoke]", "pair-z-ft [smoke]"]
    md = to_markdown(lb)
    assert (
        md.index("**zero-shot**: pretrained")
        < md.index("| pair-z [smoke]")
        < md.index("**fine-tuned**")
        < md.index("| pair-z-ft [smoke]")
    )
    lines = to_csv(lb).splitlines()
    assert lines[0].split(",")[-3:] == ["training", "status", "reason"]
    assert lines[1].split(",")[-3:] == ["zero-shot", "done", ""] and lines[3].split(",")[-3] == "fine-tuned"
    # the HTML leaderboards carry a sortable "training" column, zero-shot rows before fine-tuned ones
    from egbench_core.report.html.write import write_report

    index = write_report(store, tmp_path / "html").read_text()
    board = index[index.index('id="board-static"') :]
    board = board[: board.index("</table>")]
    assert ">training</th>" in board
    assert (
        board.index('data-text="pair-z"')
        < board.index(">zero-shot</td>")
        < board.index('data-text="pair-z-ft"')
        < board.index(">fine-tuned</td>")
    )


def test_zero_shot_refits_on_the_validation_split_where_the_training_file_is_missing(monkeypatch, mirror, tmp_path):
    """GeTe's training file is not in the offline mirror: a zero-shot cell refits its offsets on the
    validation split and says so; fine-tuning needs the training split and is skipped."""
    monkeypatch.setenv("EGBENCH_OFFLINE", "1")
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(tmp_path))
    specs = pretrained_models(
        "pair-any",
        lambda: None,
        cutoff=CUTOFF,
        finetune={"smoke": {"epochs": 1}},
        version="1",
        citation="-",
        licence="MIT",
    )

    class Plugin:
        from egbench_core import hookimpl

        @hookimpl
        def register_models(self, register):
            for s in specs:
                register(s)

    cat = load_catalog(extra_plugins=[Plugin()])
    zero, tuned = plan_cells(cat, "pair-any,pair-any-ft", "gete", "standard", preset="smoke")
    assert zero.skip_reason == "" and zero.plan.train_split == "val" == zero.plan.val_split
    assert (
        "zero-shot energy offsets refitted on the 'val' split: gete's 'train' split is not available" in zero.plan.note
        and "GeTe/data/train/nequip_npz.npz" in zero.plan.note
    )
    assert zero.provenance["task"]["plan"]["train_split"] == "val"
    assert (
        tuned.skip_reason.startswith("dataset gete: 1 file(s) not available offline")
        and tuned.plan.train_split == "train"
    )


def test_cells_stored_before_modes_are_read_from_their_energy_label():
    assert cell_mode({"model": {"energy": "trained"}}) == "from-scratch"
    assert cell_mode({"model": {"energy": "zero-shot (E0 refit)"}}) == "zero-shot"
    assert cell_mode({"model": {"energy": "trained", "mode": "fine-tuned"}}) == "fine-tuned"
    assert cell_mode(None) == "from-scratch"
