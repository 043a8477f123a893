"""Calculator-backed models (ARCHITECTURE.md, "The model seam") and ``ase:module:Class?key=value``
model ids. The calculator is a real one: ASE's EMT, which labels the synthetic-emt dataset, so a
cell run through the seam must reproduce the dataset's own energies and forces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from egbench_core.data.readers import Frames
from egbench_core.interfaces import calculator_model
from egbench_core.md.calculator import NonFiniteOutputError
from egbench_core.model.ase_models import AseSpecError, ase_model, model_id, parse_spec
from egbench_core.model.calculator_model import GuardedCalculator, refit_offsets
from egbench_core.plugins import load_catalog
from egbench_core.run.runner import plan_cells, run_cells
from egbench_core.store import Store
from egbench_core.testing import CalculatorConformance, finite_difference_forces

EMT_SPEC = "ase:ase.calculators.emt:EMT"


# -- the spec -------------------------------------------------------------------------------
def test_parse_spec_reads_module_class_and_typed_values():
    module, cls, kwargs = parse_spec(
        "ase:tblite.ase:TBLite?method=GFN2-xTB&accuracy=0.5&max_iterations=300"
        "&verbose=false&electronic_temperature=300.0&x=none&label=a%26b"
    )
    assert (module, cls) == ("tblite.ase", "TBLite")
    assert kwargs == {
        "method": "GFN2-xTB",
        "accuracy": 0.5,
        "max_iterations": 300,
        "verbose": False,
        "electronic_temperature": 300.0,
        "x": None,
        "label": "a&b",
    }
    assert isinstance(kwargs["max_iterations"], int) and isinstance(kwargs["accuracy"], float)
    assert parse_spec("  ase:ase.calculators.emt:EMT ") == ("ase.calculators.emt", "EMT", {})


def test_model_id_is_lowercase_kebab_case_derived_from_the_spec():
    assert model_id("ase:tblite.ase:TBLite?method=GFN2-xTB") == "ase-tblite-ase-tblite-method-gfn2-xtb"
    assert model_id(EMT_SPEC) == "ase-ase-calculators-emt-emt"
    assert model_id("ase:a_b.c:Calc?x=1.5") == "ase-a-b-c-calc-x-1-5"


@pytest.mark.parametrize(
    "name, ok",
    [
        ("chgnet-0.3", True),
        ("sevennet-mf-0", True),
        ("mace", True),
        ("chgnet-0.3.1", True),
        ("ase-a-b", True),
        ("chgnet.0", False),
        ("chgnet-0.", False),
        ("chgnet-.3", False),
        ("Chgnet-0.3", False),
        ("a_b", False),
        ("chgnet-v0.3", True),
        ("", False),
        ("chgnet-0..3", False),
    ],
)
def test_model_ids_are_kebab_case_with_a_dot_only_inside_a_version(name, ok):
    from egbench_core.interfaces import check_model_id

    if ok:
        assert check_model_id(name) == name
    else:
        with pytest.raises(ValueError, match="is not lowercase kebab-case"):
            check_model_id(name)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("tblite.ase:TBLite", "does not start with 'ase:'"),
        ("ase:tblite.ase", "expected 'ase:package.module:ClassName'"),
        ("ase::TBLite", "expected 'ase:package.module:ClassName'"),
        ("ase:tblite..ase:TBLite", "is not a dotted module name"),
        ("ase:tblite.ase:TB-Lite", "is not a class name"),
        ("ase:tblite.ase:TBLite?method", "is not key=value"),
        ("ase:tblite.ase:TBLite?1x=2", "is not key=value"),
        ("ase:tblite.ase:TBLite?a=1&a=2", "key 'a' is given twice"),
        ("ase:tblite.ase:TBLite?", "nothing after '?'"),
        ("ase:ase.calculators.emt:NoSuch", "module ase.calculators.emt has no 'NoSuch'"),
        ("ase:ase.units:Hartree", "ase.units.Hartree is not an ASE calculator class"),
        ("ase:ase.atoms:Atoms", "ase.atoms.Atoms is not an ASE calculator class"),
        ("ase:ase.calculators.no_such_module:X", "cannot import ase.calculators.no_such_module"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(AseSpecError, match=None) as info:
        ase_model(spec)
    assert message in str(info.value) and spec.strip() in str(info.value)


def test_the_spec_makes_a_calculator_backed_model_that_cannot_be_built():
    spec = ase_model("ase:ase.calculators.lj:LennardJones?sigma=2.5&epsilon=0.01&rc=6.0")
    assert spec.calculator_backed and not spec.capabilities.trainable
    assert spec.name == "ase-ase-calculators-lj-lennardjones-sigma-2-5-epsilon-0-01-rc-6-0"
    assert spec.requires == ["ase"] and set(spec.presets) == {"smoke", "quick", "paper"}
    calc = spec.calculator()
    assert (calc.parameters.sigma, calc.parameters.epsilon, calc.parameters.rc) == (2.5, 0.01, 6.0)
    assert spec.calculator() is not calc  # a fresh calculator per use
    with pytest.raises(TypeError, match="no network to build"):
        spec.build([1], 5.0, {}, None)


# -- the calculator wrapper and the energy offsets ------------------------------------------
def _alloys() -> list[Atoms]:
    """Cu–Au cells of different compositions, slightly rattled."""
    out = []
    for k, n_au in enumerate((0, 1, 3, 4, 6)):
        a = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 1, 1))
        symbols = np.array(a.get_chemical_symbols())
        symbols[:n_au] = "Au"
        a.set_chemical_symbols(symbols.tolist())
        a.rattle(0.05, seed=k)
        out.append(a)
    return out


def test_guarded_calculator_adds_offsets_to_the_energy_only_and_forces_are_minus_the_gradient():
    atoms = _alloys()[2]
    offsets = {29: 0.37, 79: -1.25}
    atoms.calc = GuardedCalculator(EMT(), offsets)
    e = atoms.get_potential_energy()
    f = atoms.get_forces()
    raw = atoms.copy()
    raw.calc = EMT()
    n_au = int((atoms.numbers == 79).sum())
    assert e == pytest.approx(raw.get_potential_energy() + 0.37 * (len(atoms) - n_au) - 1.25 * n_au, abs=1e-12)
    np.testing.assert_allclose(f, raw.get_forces(), atol=1e-12)
    assert np.abs(f).max() > 0.05  # rattled: real forces
    points = ((0, 0), (3, 1), (7, 2))
    fd = finite_difference_forces(atoms, points, 1e-4)
    np.testing.assert_allclose(fd, [f[i, c] for i, c in points], rtol=0, atol=1e-5)
    p = atoms.positions.copy()
    p[2, 1] = np.nan
    atoms.positions = p
    with pytest.raises(NonFiniteOutputError, match=r"non-finite positions \(atoms \[2\]\)"):
        atoms.get_potential_energy()


def test_refit_offsets_recovers_known_per_element_offsets():
    structures = _alloys()
    truth = {29: 0.37, 79: -1.25}
    raw = []
    for a in structures:
        a.calc = EMT()
        raw.append(a.get_potential_energy())
    raw = np.array(raw)
    ref = raw + np.array([sum(truth[int(z)] for z in a.numbers) for a in structures])
    frames = Frames.from_atoms(structures, ref, [np.zeros((len(a), 3)) for a in structures])
    got = refit_offsets(frames, raw)
    assert set(got) == {29, 79}
    for z, d in truth.items():
        assert got[z] == pytest.approx(d, abs=1e-9)


# -- the conformance kit's calculator checks, on EMT and on a broken calculator ----------------
EMT_MODEL = calculator_model(
    "emt",
    EMT,
    citation="K. W. Jacobsen, P. Stoltze, J. K. Nørskov, Surf. Sci. 366, 394 (1996)",
    licence="LGPL-2.1 (ase)",
    elements=[1, 6, 7, 8, 13, 28, 29, 46, 47, 78, 79],
)


class TestEMTConformance(CalculatorConformance):
    spec = EMT_MODEL
    species = (1, 6, 8, 29)


class _WrongSignEMT(EMT):
    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["forces"] = -self.results["forces"]


class _Broken(CalculatorConformance):
    spec = calculator_model("emt-wrong-sign", _WrongSignEMT, citation="x", licence="x")
    species = (1, 6, 8, 29)


def test_the_kit_catches_forces_that_are_not_minus_the_gradient():
    with pytest.raises(AssertionError, match="forces vs -dE/dr by finite differences"):
        _Broken().test_forces_match_finite_differences()


def test_the_kit_refuses_a_trainable_spec(toy):
    class Wrong(CalculatorConformance):
        spec = toy.spec()

    with pytest.raises(AssertionError, match="is not calculator-backed"):
        Wrong().test_spec_metadata()


# -- planning ---------------------------------------------------------------------------------
def test_planned_cells_carry_the_spec_and_run_on_the_ase_engine(emt_env):
    cat = load_catalog(entry_points=False)
    a = plan_cells(cat, f"{EMT_SPEC},ase:ase.calculators.emt:EMT?asap_cutoff=true", "synthetic-emt", preset="smoke")
    assert [c.model for c in a] == ["ase-ase-calculators-emt-emt", "ase-ase-calculators-emt-emt-asap-cutoff-true"]
    assert all(c.skip_reason == "" for c in a)
    prov = a[0].provenance
    assert prov["model"]["ase_spec"] == EMT_SPEC
    assert prov["model"]["calculator"] == {"module": "ase.calculators.emt", "class": "EMT", "kwargs": {}}
    assert prov["model"]["code"]["dist"] == "ase" and prov["model"]["code"]["version"]
    assert prov["md_engine"] == "ase" and prov["precision"] == "calculator"
    assert a[0].key != a[1].key
    assert plan_cells(cat, EMT_SPEC, "synthetic-emt", preset="smoke")[0].key == a[0].key  # stable


def test_ase_models_mix_with_installed_ones_in_the_order_given(emt_env, toy):
    cat = load_catalog(extra_plugins=[toy.Plugin(toy.spec())], entry_points=False)
    cells = plan_cells(cat, f"{EMT_SPEC},toy-pair", "synthetic-emt", preset="smoke")
    assert [c.model for c in cells] == ["ase-ase-calculators-emt-emt", "toy-pair"]
    assert cells[1].provenance["md_engine"] == "batched" and "ase_spec" not in cells[1].provenance["model"]
    with pytest.raises(KeyError, match="no model named 'nosuch'"):
        plan_cells(cat, f"{EMT_SPEC},nosuch", "synthetic-emt", preset="smoke")
    with pytest.raises(ValueError, match="give the same id .ase-ase-calculators-emt-emt-asap-cutoff-a-b."):
        plan_cells(cat, f"{EMT_SPEC}?asap_cutoff=a_b,{EMT_SPEC}?asap_cutoff=A-B", "synthetic-emt", preset="smoke")


def test_an_uninstalled_calculator_package_is_a_skipped_cell(emt_env):
    cat = load_catalog(entry_points=False)
    cell = plan_cells(cat, "ase:nosuchpkg_egbench.calc:Calc?x=1", "synthetic-emt", preset="smoke")[0]
    assert cell.model == "ase-nosuchpkg-egbench-calc-calc-x-1"
    assert cell.skip_reason == "missing dependency: nosuchpkg_egbench (not installed)"


def test_a_model_is_skipped_on_elements_it_does_not_cover(emt_env, toy):
    copper_only = calculator_model("emt-copper", EMT, elements=[29])
    anything = calculator_model("emt-any", EMT)
    cat = load_catalog(extra_plugins=[toy.Plugin(copper_only, anything)], entry_points=False)
    cells = {c.model: c for c in plan_cells(cat, "emt-copper,emt-any", "synthetic-emt", preset="smoke")}
    assert cells["emt-copper"].skip_reason == "model emt-copper does not cover element Au of synthetic-emt"
    assert cells["emt-any"].skip_reason == ""


# -- a cell end to end --------------------------------------------------------------------------
@pytest.mark.slow
def test_emt_through_the_seam_reproduces_the_emt_labels(emt_env, tmp_path):
    cat = load_catalog(entry_points=False)
    cells = plan_cells(cat, EMT_SPEC, "synthetic-emt", preset="smoke")
    assert "ase-ase-calculators-emt-emt" not in cat.models  # the worker rebuilds it from the cell's provenance
    store = Store(tmp_path / "results")
    summary = run_cells(cells, cat, store, argv=["pytest"])
    assert (summary.done, summary.failed, summary.skipped) == (1, 0, 0)
    row = store.cells("done")[0]
    ms = {(m["name"], m["split"]): m for m in store.metrics(row.key)}
    # EMT labelled the data: same energies (offsets fitted to ~0) and forces
    assert ms[("force_mae", "test")]["value"] < 1e-9
    assert ms[("energy_mae", "test")]["value"] < 1e-8
    for name in ("train_time_per_epoch", "epochs"):
        assert ms[(name, "")]["value"] is None  # NaN: SQLite keeps it as NULL
        assert ms[(name, "")]["note"].startswith("not applicable: not trained")
    assert ms[("md_time_per_step", "")]["value"] > 0
    info = row.info
    assert info["model"]["energy"] == "zero-shot (E0 refit)" and info["model"]["fit_frames"] == 40
    assert all(abs(d) < 1e-8 for d in info["model"]["offsets_eV"].values())
    assert info["hardware"]["md_engine"] == "ase" and info["hardware"]["precision"] == "calculator"
    assert info["train"]["epochs_run"] == 0 and info["train"]["n_parameters"] == 0
    arts = store.artifacts(row.key)
    kinds = [k for k, _ in arts]
    assert "checkpoint" not in kinds and kinds.count("trajectory") == 2 and store.verify(row.key) == []
    model = json.loads(dict(arts)["model"].read_text())
    assert model["model"] == "ase-ase-calculators-emt-emt" and model["energy"] == "zero-shot (E0 refit)"
    pred = np.load(dict(arts)["predictions"])
    np.testing.assert_allclose(pred["raw_energy"], pred["ref_energy"], atol=1e-9)
    # the MD ran on EMT itself: the synthetic-emt oracle (EMT) agrees with every saved frame
    again = run_cells(cells, cat, store)
    assert (again.cached, again.done) == (1, 0)


def test_energies_of_compositions_the_offsets_do_not_determine_are_not_applicable(emt_frames):
    """Training on one composition fixes only Σ n_Z δ_Z along it: another composition's energy is
    n/a (the dataset's isolated-atom energies would not help: they are not the calculator's)."""
    from egbench_core.model.calculator_model import CalculatorPotential
    from egbench_core.model.stats import compute_stats, energy_transfer_reason

    train = emt_frames["train"].subset(range(10))  # Cu24Au8 only
    pot = CalculatorPotential(calculator_model("emt", EMT))
    pot.fit(train)
    stats = compute_stats(train, 5.0)
    alloys = _alloys()[1:3]  # Cu7Au1, Cu5Au3: not along Cu24Au8
    other = Frames.from_atoms(alloys, [0.0, 0.0], [np.zeros((len(a), 3)) for a in alloys])
    assert energy_transfer_reason(stats, other).startswith("not applicable")
    assert energy_transfer_reason(stats, emt_frames["test"].subset(range(3))) is None
