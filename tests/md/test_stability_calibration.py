"""The stability criterion is calibrated, not assumed (METRICS.md, "Stability"): applied to every
reference trajectory available offline — the DFT/AIMD frames of each dataset, in order, treated as
MD steps — it reports zero failures.

Molecules (acac 300 K and 600 K, the four MD17 test splits, 3BPA test): every frame checked
(non-finite, fragmentation, collapse, non-finite labels). Bulk (the 16 LiPS20 systems at 3000 K,
GeTe test): collapse on every frame; the RDF window (100 steps) against g_ref on every 10th frame
with g_ref from the same frames (to keep the test short: ≈ 15 s here; benchmarks/stability_calibration.py
checks every frame against the metric's own g_ref for the table of docs/metrics.md). No temperature
check: reference frames carry no velocities.
"""

from __future__ import annotations

import numpy as np
import pytest

from egbench_core.analysis import max_rdf_radius, rdf_of_frames, replay
from egbench_core.analysis.stability import CALIBRATION_MOLECULES
from egbench_core.plugins import load_catalog

pytestmark = pytest.mark.slow

BULK_SAVE_EVERY = 10


@pytest.fixture
def catalog(mirror, monkeypatch):
    for module in ("egbench_data_md17", "egbench_data_botnet", "egbench_data_lips", "egbench_data_gete"):
        pytest.importorskip(module, reason="the calibration needs the data plugins installed")
    monkeypatch.setenv("EGBENCH_LOAD_PLUGINS", "md17,botnet,lips,gete")
    return load_catalog(entry_points=True)


def _g_ref(frames):
    sample = frames.subset(np.arange(0, len(frames), BULK_SAVE_EVERY))
    return rdf_of_frames(sample, min(6.0, max_rdf_radius(frames.cell[0], frames.pbc[0])), 0.05)


def test_every_reference_trajectory_is_stable(catalog):
    rows = {}
    for name, split, spacing in CALIBRATION_MOLECULES:
        frames = catalog.datasets[name].load(split)
        rows[f"{name}/{split}"] = replay(frames, spacing_fs=spacing or 1.0)
    lips = catalog.datasets["lips20"]
    systems = lips.system_names()
    bulk = [(f"lips20/{s}", lips.load_system(s)) for s in systems] + [
        ("gete/test", catalog.datasets["gete"].load("test"))
    ]
    for label, frames in bulk:
        rows[label] = replay(frames, g_ref=_g_ref(frames), save_every=BULK_SAVE_EVERY)

    failures = {k: v["reason"] for k, v in rows.items() if not v["stable"]}
    assert failures == {}
    assert len(systems) == 16 and len(rows) == 7 + 16 + 1
    expected_frames = {"acac/test": 650, "acac/test-600k": 650, "3bpa/test": 2138, "gete/test": 300}
    for label, out in rows.items():
        assert out["frames"] == expected_frames.get(label, 1000), label
        assert out["steps_checked"] == out["frames"] and out["failed_step"] is None and out["category"] == ""
    for name, split, _ in CALIBRATION_MOLECULES:  # every molecule stays one piece; nothing comes near a collapse
        out = rows[f"{name}/{split}"]
        assert out["fragmentation_checked"] and out["pieces_start"] == out["max_pieces"] == 1, (name, split)
        assert 0.8 < out["closest_contact"] < 1.0, (name, split, out["closest_contact"])
    for label, _ in bulk:  # bulk: no fragmentation check; the contact list (0.5× covalent sums) stays empty
        out = rows[label]
        assert not out["fragmentation_checked"] and out["closest_contact"] is None, (label, out["closest_contact"])
        assert 0.0 < out["max_rdf_wf"] < 40.0, (label, out["max_rdf_wf"])
