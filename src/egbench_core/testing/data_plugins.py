"""Fixtures for a dataset plugin's tests: data from the local mirror only, into a temporary cache.

A dataset plugin's ``tests/conftest.py``::

    from egbench_core.testing.data_plugins import dataset_plugin_fixtures

    globals().update(dataset_plugin_fixtures("egbench_data_md17", __file__))

gives the fixtures ``data_env`` (session: ``EGBENCH_DATA_MIRROR`` = the ``mirror`` argument, else the
environment's ``EGBENCH_DATA_MIRROR``, else ``../shared/data`` beside egbench's repository
(:func:`~egbench_core.testing.mirror.find_mirror`); a temporary ``EGBENCH_DATA_DIR``,
``EGBENCH_OFFLINE=1``, no user registry; skips when no mirror is found), an autouse ``_env``,
``registry`` (the plugin's own registry file merged with core's), ``datasets`` (``{id: spec}`` that
the plugin's ``register_datasets`` hook registers) and ``sha256sums`` (``{relative path: sha256}``
of the mirror).
"""

from __future__ import annotations

import importlib
import os

from egbench_core.testing.mirror import find_mirror, missing_mirror
from egbench_core.testing.plugin_tests import plugin_datasets, plugin_registry_file


def dataset_plugin_fixtures(module: str, conftest_file: str, mirror: str | os.PathLike[str] | None = None) -> dict:
    import pytest

    @pytest.fixture(scope="session", name="data_env")
    def data_env(tmp_path_factory):
        found = find_mirror(mirror, near=conftest_file)
        if found is None or not (found / "SHA256SUMS").is_file():
            pytest.skip(missing_mirror(found, f"the tests of {module}"))
        mp = pytest.MonkeyPatch()
        mp.setenv("EGBENCH_DATA_MIRROR", str(found))
        mp.setenv("EGBENCH_DATA_DIR", str(tmp_path_factory.mktemp("egbench-cache")))
        mp.setenv("EGBENCH_OFFLINE", "1")
        mp.delenv("EGBENCH_REGISTRY", raising=False)
        yield found
        mp.undo()

    @pytest.fixture(autouse=True, name="_env")
    def _env(data_env):
        yield

    @pytest.fixture(scope="session", name="registry")
    def registry(data_env):
        from egbench_core.data.registry import Registry

        return Registry.load([plugin_registry_file(importlib.import_module(module))])

    @pytest.fixture(scope="session", name="datasets")
    def datasets(registry):
        return plugin_datasets(importlib.import_module(module), registry)

    @pytest.fixture(scope="session", name="sha256sums")
    def sha256sums(data_env):
        lines = (data_env / "SHA256SUMS").read_text().splitlines()
        return dict(reversed(line.split()) for line in lines if line.strip())

    return {"data_env": data_env, "_env": _env, "registry": registry, "datasets": datasets, "sha256sums": sha256sums}
