"""Hermetic set-up: the data come from the local mirror only (EGBENCH_OFFLINE=1), into a
temporary cache; no user registry. The mirror lies next to the repository: ../shared/data."""
from __future__ import annotations

from pathlib import Path

import pytest

MIRROR = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_env(tmp_path_factory):
    if not (MIRROR / "SHA256SUMS").is_file():
        pytest.skip(f"the local data mirror {MIRROR} is not there")
    mp = pytest.MonkeyPatch()
    mp.setenv("EGBENCH_DATA_MIRROR", str(MIRROR))
    mp.setenv("EGBENCH_DATA_DIR", str(tmp_path_factory.mktemp("egbench-cache")))
    mp.setenv("EGBENCH_OFFLINE", "1")
    mp.delenv("EGBENCH_REGISTRY", raising=False)
    yield MIRROR
    mp.undo()


@pytest.fixture(autouse=True)
def _env(data_env):
    yield


@pytest.fixture(scope="session")
def registry(data_env):
    from egbench_core.registry import Registry

    import egbench_data_md17

    return Registry.load([egbench_data_md17.registry_path()])


@pytest.fixture(scope="session")
def datasets(registry):
    import egbench_data_md17

    return {d.name: d for d in egbench_data_md17.make_datasets(registry)}


@pytest.fixture(scope="session")
def sha256sums(data_env):
    return dict(reversed(line.split()) for line in (MIRROR / "SHA256SUMS").read_text().splitlines() if line.strip())
