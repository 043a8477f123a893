"""The article's tables (package data) and ``egbench report --compare paper``: the paper's printed
value beside egbench's, for the same model × dataset × metric, with the definition marks."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from egbench_core.cli import app
from egbench_core.interfaces import MetricValue
from egbench_core.report.compare import compare, to_csv, to_markdown
from egbench_core.report.paper import FOLDER, load_tables
from egbench_core.store import Store

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT.parent / "shared" / "design" / "paper"
PACKAGE_DATA = ROOT / "src" / "egbench_core" / "report" / FOLDER


# -- the tables ---------------------------------------------------------------------------
def test_tables_have_the_documented_rows_and_printed_values():
    t = load_tables()
    assert {n: len(t[n].rows) for n in t} == {1: 72, 2: 72, 3: 72, 4: 54, 5: 24, 6: 24, 7: 15, 8: 15}
    assert t[1].row(dataset="acac", model="mace") == {
        "dataset": "acac",
        "model": "mace",
        "energy_mae_meV": "2.0",
        "force_mae_meV_per_A": "8.0",
    }
    assert t[4].row(dataset="gete", model="mace")["inference_min_per_1000_steps"] == "26.75"
    assert t[4].row(dataset="gete", model="painn") is None  # Table 4 has six models
    lips = t[3].row(dataset="lips20", model="torchmd-net")
    assert lips["ev_x1e5"] == "15108.75" and lips["ev_std_x1e5"] == "" and lips["fv_std"] == ""
    assert t[3].row(dataset="lips20", model="equiformer")["ev_x1e5"] == ""  # printed "—"
    assert t[5].row(dataset="acac", temperature_K="600", model="mace")["ev_x1e5"] == "2.215"
    assert t[8].row(structures="crystal", model="mace")["wf"] == "12.661"
    with pytest.raises(KeyError, match="keyed by"):
        t[7].row(dataset="lips20", model="mace")


@pytest.mark.skipif(not DESIGN.is_dir(), reason="the design folder ../shared/design/paper is absent")
def test_shipped_copy_is_byte_identical_to_the_design_transcription():
    names = sorted(p.name for p in DESIGN.iterdir())
    assert len(names) == 9  # 8 CSVs and README.md
    for name in names:
        assert (PACKAGE_DATA / name).read_bytes() == (DESIGN / name).read_bytes(), name
    assert "transcribed" in (PACKAGE_DATA / "PROVENANCE.md").read_text()


@pytest.mark.slow
def test_the_wheel_carries_the_tables(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("egbench_core-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for p in PACKAGE_DATA.iterdir():
        assert f"egbench_core/report/{FOLDER}/{p.name}" in names
    assert "egbench_core/report/paper.py" in names and "egbench_core/report/compare.py" in names


# -- a store written directly ---------------------------------------------------------------
def _metrics(split: str) -> list[tuple]:
    return [
        ("energy_mae", 0.0021, "eV", split),
        ("force_mae", 0.0075, "eV/Å", split),
        ("energy_rmse", 0.003, "eV", split),
        ("train_time_per_epoch", 6.0, "s"),
        ("md_time_per_step", 30.0, "ms", "", 1.5),
        ("jsd", 0.0123, "nat"),
        ("wf", 23.4, "%"),
        ("wf_nosqrt", 5.5, "%"),
        ("ev", 0.9, "1e-5", "", 0.1, 5, "aligned"),
        ("fv", 0.705, "1", "", None, 5, "aligned"),
        ("ev", 3.0, "1e-5", "", None, 5, "oracle"),
        ("stable_fraction", 0.8, "1"),
        ("time_to_failure", 400.0, "fs", "", 20.0),
    ]


def _add(
    store: Store,
    i: int,
    model: str,
    preset: str,
    dataset: str,
    task: str,
    split: str = "test",
    md_k: float = 300.0,
    metrics: list[tuple] | None = None,
) -> None:
    key = f"{i:064d}"
    ident = {"model": model, "preset": preset, "dataset": dataset, "task": task, "seed": 0}
    prov = {"task": {"plan": {"eval_splits": [split], "md": {"temperature_K": md_k}}}}
    store.claim(key, 1, ident, "me:1:x", prov)
    scratch = store.scratch_dir(key, "me:1:x")
    values = [(MetricValue(*m), "1") for m in (_metrics(split) if metrics is None else metrics)]
    store.finish_cell(key, 1, "me:1:x", scratch, values, [], {}, 1.0)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "out")
    _add(s, 1, "mace", "paper", "acac", "standard")
    _add(s, 2, "mace", "smoke", "acac", "ood-temperature", "test-600k", 600.0)
    _add(s, 3, "torchmd-net", "quick", "lips20", "standard", md_k=3000.0)
    _add(s, 4, "torchmd-net", "quick", "lips20", "ood-crystal", "crystal-test", 3000.0)
    _add(s, 5, "torchmd-net", "quick", "lips20", "ood-composition", "composition-test", 3000.0)
    _add(s, 6, "mace", "quick", "3bpa", "standard", md_k=600.0)  # the 3bpa test split is at 600 K
    _add(s, 7, "equiformer", "quick", "lips20", "standard", md_k=3000.0)
    _add(s, 8, "toy-pair", "smoke", "acac", "standard")  # not in the paper
    _add(
        s,
        9,
        "painn",
        "quick",
        "gete",
        "standard",
        md_k=960.0,
        metrics=[("energy_mae", 0.05, "eV", "test"), ("force_mae", 0.1, "eV/Å", "test")],
    )
    yield s
    s.close()


def _rows(cmp) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(to_csv(cmp))))


# the columns that name a comparison row, first in every table
KEY_COLUMNS = ["model", "preset", "dataset", "task", "paper table", "seeds"]


def _row(rows, **match) -> dict[str, str]:
    hits = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(hits) == 1, (match, rows)
    return hits[0]


def test_static_pairs_table_1_and_the_cost_of_table_4_in_the_paper_units(store):
    cmp = compare(store, "paper", "static")
    assert cmp.headers == [
        *KEY_COLUMNS,
        "E MAE (meV)",
        "paper",
        "F MAE (meV/Å)",
        "paper",
        "train min/epoch",
        "paper ¶",
        "MD min/1000 steps",
        "paper ¶",
        "note",
    ]
    md = to_markdown(cmp)
    # 2.1 meV / 7.5 meV/Å beside the paper's 2.0 / 8.0; 6 s/epoch = 0.100 min; 30 ms/step = 0.500 min/1000 steps
    assert (
        "| mace | paper | acac | standard | Tables 1, 4 | 0 | 2.10 | 2.0 | 7.50 | 8.0 | 0.100 | 0.04 "
        "| 0.500 ± 0.025 | 2.66 |  |"
    ) in md
    assert "¶ cost: the hardware of the paper's Table 4 is unknown" in md
    assert "quick` and `smoke` rows" in md and "not expected to match" in md
    rows = _rows(cmp)
    acac = _row(rows, model="mace", dataset="acac")
    assert (acac["E MAE (meV)"], acac["paper E MAE (meV)"], acac["paper F MAE (meV/Å)"]) == ("2.10", "2.0", "8.0")
    assert acac["paper train min/epoch ¶"] == "0.04" and acac["paper MD min/1000 steps ¶"] == "2.66"
    # PaiNN: in Table 1, not in Table 4 (six models) -> "—"; egbench stored no cost -> "—"
    gete = _row(rows, model="painn", dataset="gete")
    assert (gete["E MAE (meV)"], gete["paper E MAE (meV)"], gete["F MAE (meV/Å)"]) == ("50.00", "884.28", "100.00")
    assert gete["paper MD min/1000 steps ¶"] == "—" and gete["MD min/1000 steps"] == "—"
    # static tables exist for the standard task only; toy-pair is not in the paper
    assert {r["task"] for r in rows} == {"standard"}
    assert any("4 egbench row(s) have no counterpart" in n for n in cmp.notes), cmp.notes


def test_structure_pairs_wf_without_root_and_marks_the_unbounded_jsd(store):
    cmp = compare(store, "paper", "structure")
    assert cmp.headers[6:10] == ["JSD (nat)", "paper ‡", "WF no sqrt (%)", "paper †"]
    md = to_markdown(cmp)
    # standard acac: Table 2 and its 300 K copy in Table 6, each as printed; egbench's wf_nosqrt, not wf
    assert "| mace | paper | acac | standard | Table 2 | 0 | 0.0123 | 31.07 | 5.50 | 22.90 |  |" in md
    assert "| mace | paper | acac | standard | Table 6 (300 K) | 0 | 0.0123 | 31.072 | 5.50 | 22.904 |  |" in md
    assert "| mace | smoke | acac | ood-temperature | Table 6 (600 K) | 0 | 0.0123 | 19.295 | 5.50 | 28.708 |  |" in md
    assert "23.40" not in md
    assert "† WF: the paper's WF has no square root" in md and "`wf_nosqrt`" in md
    assert "‡ JSD: the paper's JSD is not a bounded JSD" in md
    rows = _rows(cmp)
    assert _row(rows, task="ood-crystal")["paper table"] == "Table 8 (crystal)"
    assert _row(rows, task="ood-crystal")["paper WF no sqrt (%) †"] == "61.201"
    assert _row(rows, task="ood-composition")["paper table"] == "Table 8 (test)"
    # 3bpa's standard MD ran at its test split's 600 K; the paper's Table 2 row is its 300 K run
    assert (
        _row(rows, dataset="3bpa", **{"paper table": "Table 2"})["note"]
        == "egbench's MD at 600 K, the paper's at 300 K"
    )
    # a value the paper printed as "—"; Table 8 has no Equiformer row, so only Table 2 pairs
    eq = [r for r in rows if r["model"] == "equiformer"]
    assert [(r["paper table"], r["paper JSD (nat) ‡"]) for r in eq] == [("Table 2", "—")]


def test_dynamics_pairs_the_aligned_columns_with_the_paper_std_where_printed(store):
    cmp = compare(store, "paper", "dynamics")
    assert cmp.headers[6:10] == ["EV aligned (×1e-5)", "paper §", "FV aligned", "paper §"]
    md = to_markdown(cmp)
    assert (
        "| mace | paper | acac | standard | Table 3 | 0 | 0.90 ± 0.10 | 0.813 ± 0.275 | 0.705 | 0.710 ± 0.041 |  |"
    ) in md
    assert "| mace | paper | acac | standard | Table 5 (300 K) | 0 | 0.90 ± 0.10 | 0.813 | 0.705 | 0.7096 |  |" in md
    assert "§ EV/FV: the paper's are aligned-mode" in md and "1,000 steps" in md
    assert "3.00" not in md  # egbench's oracle EV has no counterpart in the paper
    rows = _rows(cmp)
    # LiPS20 TorchMD-Net: the article's std cells are unreadable, so they stay empty (no ±)
    tm = _row(rows, model="torchmd-net", task="standard", **{"paper table": "Table 3"})
    assert tm["paper EV aligned (×1e-5) §"] == "15108.75" and tm["paper FV aligned §"] == "0.834"
    assert (
        _row(rows, model="torchmd-net", **{"paper table": "Table 7 (train)"})["paper EV aligned (×1e-5) §"]
        == "15108.747"
    )
    assert _row(rows, task="ood-composition")["paper EV aligned (×1e-5) §"] == "59906.813"
    assert _row(rows, task="ood-temperature")["paper FV aligned §"] == "0.7127"


def test_stability_has_no_paper_columns_and_says_so(store):
    cmp = compare(store, "paper", "stability")
    assert cmp.headers == [*KEY_COLUMNS, "stable fraction", "time stable (fs)", "note"]
    row = _row(_rows(cmp), model="mace", task="standard", dataset="acac")
    assert row["paper table"] == "Tables 2, 6 (300 K), 3, 5 (300 K)" and row["stable fraction"] == "0.80"
    assert any("give no stability figures" in line for line in cmp.legend)


def test_an_egbench_error_keeps_its_reason(tmp_path):
    s = Store(tmp_path / "out")
    _add(s, 1, "mace", "quick", "acac", "standard", metrics=[("force_mae", float("nan"), "eV/Å", "test")])
    cmp = compare(s, "paper", "static")
    assert "| error (the metric gave a non-finite value (NaN)) | 8.0 |" in to_markdown(cmp)
    assert _row(_rows(cmp), model="mace")["F MAE (meV/Å)"].startswith("error (")


def test_unknown_source_is_refused(store):
    with pytest.raises(ValueError, match="--compare 'nosuch': expected paper"):
        compare(store, "nosuch", "static")


# -- the command ----------------------------------------------------------------------------------
def test_report_compare_markdown_and_csv(store):
    out = str(store.root)
    md = CliRunner().invoke(
        app,
        ["report", "--out", out, "--compare", "paper", "--table", "dynamics", "--format", "markdown"],
        env={"COLUMNS": "250"},
    )
    assert md.exit_code == 0, md.output
    assert "| 0.90 ± 0.10 | 0.813 ± 0.275 |" in md.stdout and "§ EV/FV" in md.stdout
    res = CliRunner().invoke(
        app, ["report", "--out", out, "--compare", "paper", "--format", "csv"], env={"COLUMNS": "250"}
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))  # stdout is one csv table; the legend is on stderr
    assert _row(rows, model="mace", dataset="acac")["paper F MAE (meV/Å)"] == "8.0"
    assert "¶ cost" in res.stderr and "¶ cost" not in res.stdout
    shown = CliRunner().invoke(
        app, ["report", "--out", out, "--compare", "paper", "--table", "structure"], env={"COLUMNS": "250"}
    )
    assert shown.exit_code == 0, shown.output
    assert "egbench beside the paper: structure" in shown.stdout and "31.072" in shown.stdout


@pytest.mark.slow
def test_compare_nosuch_is_one_line_and_exit_2(toy_site):
    res = subprocess.run(
        toy_site.egbench + ["report", "--compare", "nosuch"],
        env=toy_site.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == ["error: --compare 'nosuch': expected paper"] and "Traceback" not in res.stdout


# -- a real cell ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_computed_cell_is_shown_beside_the_paper(toy, tmp_path):
    """The toy model, registered as "mace", trained on acac at the smoke preset: its stored values
    come out beside the paper's acac/MACE row."""
    from egbench_core.plugins import load_catalog
    from egbench_core.report.leaderboard import TABLES, leaderboard
    from egbench_core.run.runner import plan_cells, run_cells

    cat = load_catalog(extra_plugins=[toy.Plugin(toy.spec("mace"))], entry_points=False)
    cells = plan_cells(cat, "mace", "acac", "standard", "smoke", 0)
    store = Store(tmp_path / "out")
    assert run_cells(cells, cat, store).done == 1, store.cell(cells[0].key).error
    lb = leaderboard(store, columns=TABLES["static"])
    ours = dict(zip(lb.headers, lb.rows[0]))
    row = _row(_rows(compare(store, "paper", "static")), model="mace")
    assert row["preset"] == "smoke" and row["paper table"] == "Tables 1, 4"
    assert row["E MAE (meV)"] == ours["E MAE (meV)"] and row["paper E MAE (meV)"] == "2.0"
    assert row["F MAE (meV/Å)"] == ours["F MAE (meV/Å)"] and row["paper F MAE (meV/Å)"] == "8.0"
    ms = float(ours["MD ms/step"].split(" ")[0])
    assert abs(float(row["MD min/1000 steps"].split(" ")[0]) - ms / 60) < 1e-3 + 1e-3 * ms / 60
    structure = _row(_rows(compare(store, "paper", "structure")), **{"paper table": "Table 2"})
    assert structure["paper WF no sqrt (%) †"] == "22.90" and structure["note"] == ""  # both at 300 K
