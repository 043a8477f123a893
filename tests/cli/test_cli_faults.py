"""Faults of the `egbench` command found in issue 21, each through the real entry point in a subprocess:
``ase:`` specs that name something other than an ASE calculator, or keywords the calculator does not
declare (one line, exit 2); SIGINT / SIGTERM while the plugins load (one line, exit 130 / 143); and
the oracle note of a cell, which depends on the installed oracle plugins, in the cell's key."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import egbench_core
from egbench_core.store import Store

pytestmark = pytest.mark.slow

# the egbench_core this test imported (a worktree's, under PYTHONPATH), for the subprocesses too
SRC = Path(egbench_core.__file__).resolve().parents[1]
EMT = "ase:ase.calculators.emt:EMT"


def _env(toy_site, **extra) -> dict[str, str]:
    env = toy_site.env(**extra)
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(SRC)])
    return env


def _egbench(toy_site, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        toy_site.egbench + list(args), env=_env(toy_site, **env), capture_output=True, text=True, timeout=300
    )


def _one_line(res: subprocess.CompletedProcess, code: int = 2) -> str:
    """The one non-empty line of the output (stdout and stderr), after checking the exit code."""
    assert res.returncode == code, (res.returncode, res.stdout[-2000:], res.stderr[-2000:])
    assert "Traceback" not in res.stderr + res.stdout
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, res.stdout + res.stderr
    return lines[0]


# -- item 5: a spec that resolves to something other than an ASE calculator -----------------------------
@pytest.mark.parametrize(
    "spec, what",
    [
        ("ase:os:path", "os.path is not an ASE calculator class (it is a module;"),
        ("ase:json:JSONDecoder", "json.JSONDecoder is not an ASE calculator class (it is a class;"),
    ],
)
def test_a_spec_of_an_importable_non_calculator_is_refused(toy_site, tmp_path, spec, what):
    out = tmp_path / "out"
    line = _one_line(_egbench(toy_site, "run", "--preset", "smoke", "--models", spec, "--out", str(out)))
    assert line.startswith(f"error: model spec {spec!r}: {what}")
    assert "expected a subclass of ase.calculators.calculator.BaseCalculator" in line
    assert not out.exists()  # refused before anything was planned or stored


# -- item 11: keywords the calculator does not declare ---------------------------------------------------
def test_unknown_calculator_keywords_are_refused_and_declared_ones_work(toy_site, tmp_path, request):
    out = tmp_path / "out"
    line = _one_line(_egbench(toy_site, "run", "--preset", "smoke", "--models", f"{EMT}?bad=1", "--out", str(out)))
    assert f"model spec '{EMT}?bad=1': ase.calculators.emt.EMT has no keyword argument 'bad'; valid keys: " in line
    assert "asap_cutoff" in line and not out.exists()
    # a near miss: the nearest valid key comes first
    line = _one_line(_egbench(toy_site, "run", "--preset", "smoke", "--models", f"{EMT}?asap_cutof=true"))
    assert "has no keyword argument 'asap_cutof'; valid keys: asap_cutoff, " in line
    # a keyword EMT declares (its default_parameters) still runs, and reaches the calculator
    mirror = request.getfixturevalue("mirror")  # acac's files (skips here without the mirror)
    res = _egbench(
        toy_site,
        "run",
        "--preset",
        "smoke",
        "--models",
        f"{EMT}?asap_cutoff=true",
        "--out",
        str(out),
        EGBENCH_DATA_MIRROR=mirror,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (cell,) = Store.open_readonly(out).cells("done")
    assert cell.model == "ase-ase-calculators-emt-emt-asap-cutoff-true" and cell.dataset == "acac"
    assert cell.provenance["model"]["calculator"]["kwargs"] == {"asap_cutoff": True}


# -- item 8: SIGINT / SIGTERM while the plugins load -----------------------------------------------------
SLOW_PLUGIN = """
import pathlib
import time

pathlib.Path(__file__).with_name("loading").write_text("importing")  # the test signals from now on
time.sleep(120)  # a plugin whose import takes long (a heavy framework), interrupted by the test
"""


@pytest.fixture
def slow_site(toy_site):
    """toy_site plus the distribution ``slow-egbench-plugin 1.0`` (entry point ``slow``), whose import
    writes ``loading`` beside itself and then takes two minutes."""
    (toy_site.path / "slow_egbench_plugin.py").write_text(SLOW_PLUGIN)
    d = toy_site.path / "slow_egbench_plugin-1.0.dist-info"
    d.mkdir()
    (d / "METADATA").write_text("Metadata-Version: 2.1\nName: slow-egbench-plugin\nVersion: 1.0\n")
    (d / "entry_points.txt").write_text("[egbench]\nslow = slow_egbench_plugin\n")
    return toy_site


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("args", [["list", "models"], ["run", "--preset", "smoke"]])
def test_a_signal_while_a_plugin_loads_is_one_line(slow_site, tmp_path, sig, code, args):
    marker = slow_site.path / "loading"
    proc = subprocess.Popen(
        slow_site.egbench + args + (["--out", str(tmp_path / "out")] if args[0] == "run" else []),
        env=_env(slow_site, EGBENCH_LOAD_PLUGINS="toy,slow"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the slow plugin was never imported"
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    res = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert _one_line(res, code) == f"interrupted by {sig.name} during start-up; nothing was run"
    assert not (tmp_path / "out").exists()


def _loading_plugins(pid: int) -> bool:
    """numpy's library is mapped: the plugins are being loaded (the CLI itself imports no numpy)."""
    try:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see when numpy is loaded")
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_the_installed_plugins_load_is_one_line(toy_site, sig, code):
    """The installed plugins as they are (no selection): loading them takes about a second (no torch:
    tests/test_imports.py). The signal is sent as soon as numpy's library is mapped into the process,
    i.e. while the plugins load; should the process have finished first, it is tried again."""
    env = _env(toy_site)
    del env["EGBENCH_LOAD_PLUGINS"]
    for _ in range(5):
        proc = subprocess.Popen(
            toy_site.egbench + ["list", "models"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            while not _loading_plugins(proc.pid) and proc.poll() is None:
                time.sleep(0.005)
            proc.send_signal(sig)
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            proc.kill()
        if proc.returncode != 0:  # the signal came in time
            break
    else:
        pytest.fail("egbench list models always finished before the signal")
    res = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert _one_line(res, code) == f"interrupted by {sig.name} during start-up; nothing was run"


# -- item 13: the oracle note depends on the installed oracle plugins: it is in the key ---------------------
def test_the_oracle_note_of_a_cell_is_in_its_key(toy_site, tmp_path, mirror):
    """acac declares the pyscf oracle (opt-in for the smoke preset). Without the oracle plugin its
    cells say it is not installed; with it, that it is opt-in: two notes, so two keys. A plugin that
    changes nothing about the oracle (a model plugin) leaves the key as it is."""
    out = tmp_path / "out"

    def run(plugins: str) -> str:
        res = _egbench(
            toy_site,
            "run",
            "--preset",
            "smoke",
            "--models",
            EMT,
            "--out",
            str(out),
            EGBENCH_LOAD_PLUGINS=plugins,
            EGBENCH_DATA_MIRROR=mirror,
        )
        assert res.returncode == 0, res.stderr[-3000:]
        return res.stdout

    def notes() -> dict[str, str]:
        return {c.key: c.info["oracle"]["reason"] for c in Store.open_readonly(out).cells("done")}

    assert "1 computed, 0 cached" in run("")  # only the built-in plugins: no pyscf
    (without,) = notes().values()
    assert "needs the oracle plugin 'pyscf', which is not installed" in without
    assert "1 computed, 0 cached" in run("pyscf")  # another note: another cell, not the first one's
    (opt_in,) = set(notes().values()) - {without}
    assert "is opt-in for this preset: egbench run --oracle dft" in opt_in
    assert len(notes()) == 2
    assert "0 computed, 1 cached" in run("painn")  # no oracle plugin either: the first cell, same key
    assert len(notes()) == 2
