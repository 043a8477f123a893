"""The template oracle plugin's tests: the oracle kit (registration, declarations, labels of real
acac frames, forces = −dE/dr, the same labels twice), plus its settings."""

from __future__ import annotations

import numpy as np
import pytest

from egbench_core.testing.oracle_plugins import OraclePluginChecks
from egbench_core.testing.source import plugin_module

# installed, or else from this folder's src/ (how egbench's CI runs the template)
egbench_oracle_example = plugin_module("egbench_oracle_example", __file__)


class TestGfn2Xtb(OraclePluginChecks):
    plugin = "example-oracle"  # the entry-point name in pyproject.toml
    module = "egbench_oracle_example"
    oracle = "gfn2-xtb"
    params = {"accuracy": 1.0}
    run_on = "acac"  # from the data mirror (EGBENCH_DATA_MIRROR)
    heavy = ("torch", "tblite")
    installed = False  # egbench's CI runs the template from its folder; drop this line in your copy

    def test_follows_the_dft_labels_of_acac(self, labelled):
        """GFN2-xTB is another method than the dataset's DFT (PBE-D3(BJ)/def2-SVP): its forces follow
        the DFT ones (measured: correlation 0.87, MAE 0.39 eV/Å against a mean |F| of 0.75 eV/Å on the
        first test frame), they do not reproduce them."""
        test, out = labelled
        for k, _, _, forces in out:
            ref = test.forces[test.atoms_slice(k)]
            assert np.corrcoef(forces.ravel(), ref.ravel())[0, 1] > 0.8, k
            assert np.abs(forces - ref).mean() < 0.6 * np.abs(ref).mean(), k

    def test_unknown_settings_are_refused(self):
        with pytest.raises(ValueError, match=r"unknown settings \['method'\]; known: \['accuracy'"):
            egbench_oracle_example.gfn2_xtb_spec().make({"method": "GFN1-xTB"})
