"""The checks every plugin's tests share: registration is cheap and the catalog finds it (model
plugins), a data plugin's datasets register through it and one wrong table breaks only itself, and
fixtures that keep torch tests fast on a small shared machine.

A model plugin's tests::

    from egbench_core.testing.plugin_tests import ModelPluginChecks, one_torch_thread  # noqa: F401

    class TestRegistration(ModelPluginChecks):
        plugin = "mymodel"                   # the entry-point name
        module = "egbench_model_mymodel"
        models = ("mymodel",)
        heavy = ("torch", "mylib")           # what registering must not import

A data plugin's tests subclass :class:`DataPluginChecks`; :func:`registry_toml`,
:func:`plugin_registry_file` and :func:`plugin_datasets` read a data plugin through its hooks.

Importing this module imports pytest (it holds fixtures), not torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------
@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One torch thread for the module, restored afterwards. On a shared 2-core machine torch's
    default intra-op threads make tiny graphs 10-100x slower (threads spinning on busy cores)."""
    with _torch_threads(1):
        yield


@pytest.fixture(autouse=True, scope="module")
def fast_e3nn_builds():
    """One torch thread, and e3nn's code-generation optimisations off while the module's models are
    built (they speed up long training runs, not a few evaluations; the computed function is the
    same). Both are restored afterwards."""
    from egbench_core.compat import import_e3nn

    e3nn = import_e3nn()
    opts = e3nn.get_optimization_defaults()
    with _torch_threads(1):
        e3nn.set_optimization_defaults(optimize_einsums=False, jit_script_fx=False)
        try:
            yield
        finally:
            e3nn.set_optimization_defaults(**opts)


# --------------------------------------------------------------------------------------
# model plugins
# --------------------------------------------------------------------------------------
class ModelPluginChecks:
    """``test_registration_is_cheap_and_found``: importing the plugin and calling its
    ``register_models`` hook (in a fresh interpreter) imports none of ``heavy`` and registers exactly
    ``models``; the installed plugin loads, and the catalog's models are registered by it.
    ``installed = False``: a plugin run from its source folder (the templates in CI) is handed to
    the catalog directly instead of through its entry point."""

    plugin: ClassVar[str] = ""  # entry-point name
    module: ClassVar[str] = ""  # import name of the package the entry point names
    models: ClassVar[tuple[str, ...]] = ()
    heavy: ClassVar[tuple[str, ...]] = ("torch",)
    installed: ClassVar[bool] = True

    def test_registration_is_cheap_and_found(self):
        from egbench_core.testing.registration import check_registration

        check_registration(self.module, self.plugin, "register_models", self.models, self.heavy, self.installed)


# --------------------------------------------------------------------------------------
# data plugins
# --------------------------------------------------------------------------------------
def plugin_registry_file(module: ModuleType) -> Path:
    """The registry file a data plugin hands to ``register_registry_files``."""
    files: list[Path] = []
    module.register_registry_files(register=files.append)
    (path,) = files
    return Path(path)


def registry_toml(module: ModuleType) -> dict[str, Any]:
    """A data plugin's registry file, parsed."""
    with open(plugin_registry_file(module), "rb") as fh:
        return tomllib.load(fh)


#: what every ``[datasets.*]`` table of a data plugin declares
DATASET_KEYS = ("description", "citation", "licence", "elements", "periodic", "temperature_K", "timestep_fs", "tags")


def checked_dataset_tables(module: ModuleType, plugin: str, *, periodic: bool) -> dict[str, dict[str, Any]]:
    """The ``[datasets.*]`` tables of ``module``'s registry file, each checked first: its id is a valid
    one, it names ``plugin``, holds :data:`DATASET_KEYS`, a Langevin friction of 0.5/ps and ``periodic``."""
    from egbench_core.interfaces import ID_RE

    tables = registry_toml(module)["datasets"]
    assert tables, f"{module.__name__} declares no dataset"
    for name, t in tables.items():
        assert ID_RE.match(name) and t["plugin"] == plugin, name
        for key in DATASET_KEYS:
            assert key in t, (name, key)
        assert t["friction_per_ps"] == 0.5 and t["periodic"] is periodic, name
    return tables


def plugin_datasets(module: ModuleType, registry) -> dict[str, Any]:
    """``{id: spec}`` of what the plugin's ``register_datasets`` hook registers from ``registry``."""
    specs: list[Any] = []
    module.register_datasets(register=specs.append, registry=registry)
    return {s.name: s for s in specs}


def check_git_sha1_on_mirror(
    mirror: Path, name: str, url: str, fmt: str, tmp_path: Path, monkeypatch, wrong: str = "0" * 40
) -> None:
    """A registry entry checked by git blob SHA-1 (what the upstream repository publishes): the
    mirror file's hash is git's, a fetch with the right one gives the file, one with ``wrong`` is
    refused naming the expected hash."""
    from egbench_core.data.registry import ChecksumError, Registry, file_hash

    content = (mirror / name).read_bytes()
    expected = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    assert file_hash(mirror / name, "git-sha1") == expected
    monkeypatch.setenv("EGBENCH_DATA_DIR", str(tmp_path / "cache"))
    for sha, ok in ((expected, True), (wrong, False)):
        reg_file = tmp_path / f"git-{ok}.toml"
        reg_file.write_text(f'[files."{name}"]\nurl = "{url}"\ngit_sha1 = "{sha}"\nformat = "{fmt}"\n')
        reg = Registry.load([reg_file])
        if ok:
            assert reg.fetch(name).read_bytes() == content
        else:
            (tmp_path / "cache" / name).unlink()
            with pytest.raises(ChecksumError, match=f"git-sha1.*{expected}|{expected}"):
                reg.fetch(name)


class DataPluginChecks:
    """A data plugin as core sees it: its entry point is declared, every one of ``datasets`` is
    registered through it (core's own datasets untouched), and the one wrong ``[datasets.*]`` table
    of ``bad_registry`` (a user registry file) is reported with ``bad_error`` while the plugin's
    other datasets still work."""

    module: ClassVar[ModuleType | None] = None
    entry_point: ClassVar[str] = ""
    root: ClassVar[Path | None] = None  # the plugin's folder (pyproject.toml)
    datasets: ClassVar[tuple[str, ...]] = ()
    bad_registry: ClassVar[str] = ""
    bad_error: ClassVar[str] = ""  # what the registry error says after "<file>: "

    def _module(self) -> ModuleType:
        assert self.module is not None, f"{type(self).__name__} must set `module` (the plugin's module)"
        return self.module

    def _catalog(self):
        from egbench_core.plugins import load_catalog

        cat = load_catalog(extra_plugins=[self._module()], entry_points=False)
        info = cat.plugins[self._module().__name__]
        assert info.status == "ok", info.error
        return cat

    def test_entry_point_is_declared(self):
        assert self.root is not None, f"{type(self).__name__} must set `root` (the plugin's folder)"
        with open(self.root / "pyproject.toml", "rb") as fh:
            declared = tomllib.load(fh)["project"]["entry-points"]["egbench"]
        assert declared == {self.entry_point: self._module().__name__}

    def test_catalog_registers_each_dataset_through_this_plugin(self):
        cat = self._catalog()
        for name in self.datasets:
            assert cat.datasets[name].plugin == self._module().__name__, name
        assert "acac" in cat.datasets  # core's own dataset is untouched

    def test_a_wrong_dataset_table_breaks_only_that_dataset(self, tmp_path, monkeypatch):
        found = re.search(r"^\[datasets\.([a-z0-9-]+)\]", self.bad_registry, re.M)
        assert found, f"{type(self).__name__}.bad_registry must hold one [datasets.<id>] table"
        bad = found.group(1)
        reg = tmp_path / "bad.toml"
        reg.write_text(self.bad_registry)
        monkeypatch.setenv("EGBENCH_REGISTRY", str(reg))
        cat = self._catalog()
        assert f"{reg}: {self.bad_error}" in cat.problems[f"dataset:{bad}"]
        assert set(self.datasets) <= set(cat.datasets) and bad not in cat.datasets


# --------------------------------------------------------------------------------------
# pretrained plugins
# --------------------------------------------------------------------------------------
def check_zero_shot_and_fine_tuned(
    model_id: str, results: Path, monkeypatch, zero_shot_force_mae: tuple[float, float], dataset: str = "acac"
) -> tuple[dict[str, Any], dict[str, float]]:
    """One smoke cell of a pretrained ``model_id`` (zero-shot) and of ``model_id + "-ft"`` on
    ``dataset`` (standard task, offline). Both must finish; the zero-shot test force MAE (eV/Å) must
    lie within ``zero_shot_force_mae`` and fine-tuning must lower it; the offsets are refitted and
    MD runs on egbench's batched engine. Returns ``({model: stored cell row}, {model: force MAE})``
    for the plugin's own further checks."""
    from egbench_core.plugins import load_catalog
    from egbench_core.run.runner import plan_cells, run_cells
    from egbench_core.store import Store

    monkeypatch.setenv("EGBENCH_OFFLINE", "1")
    cat = load_catalog()
    cells = plan_cells(cat, f"{model_id},{model_id}-ft", dataset, "standard", preset="smoke")
    store = Store(results)
    summary = run_cells(cells, cat, store, argv=["pytest"])
    assert (summary.done, summary.failed) == (2, 0), [c.error for c in store.cells("failed")]
    rows = {r.model: r for r in store.cells("done")}
    force_mae = {
        m: next(x["value"] for x in store.metrics(r.key) if (x["name"], x["split"]) == ("force_mae", "test"))
        for m, r in rows.items()
    }
    lo, hi = zero_shot_force_mae
    assert lo < force_mae[model_id] < hi, f"{model_id}: zero-shot force MAE {force_mae[model_id]:.4f} eV/Å"
    assert force_mae[f"{model_id}-ft"] < force_mae[model_id], force_mae
    assert rows[model_id].info["model"]["energy"] == "zero-shot (E0 refit)"
    assert rows[f"{model_id}-ft"].info["model"]["mode"] == "fine-tuned"
    assert rows[model_id].info["hardware"]["md_engine"] == "batched"
    return rows, force_mae


def check_a_changed_checkpoint_is_refused(checkpoints: dict[str, Any], model_id: str, load, monkeypatch) -> None:
    """``load(model_id)`` of a pretrained plugin must refuse its checkpoint once the sha256 the
    plugin records for it (``checkpoints[model_id].sha256``) no longer matches the file."""
    import dataclasses

    from egbench_core.model.pretrained import CheckpointError

    real = checkpoints[model_id]
    monkeypatch.setitem(checkpoints, model_id, dataclasses.replace(real, sha256="0" * 64))
    with pytest.raises(CheckpointError, match=f"has sha256 {real.sha256[:12]}.*expected 0000"):
        load(model_id)
