"""The one list of model modes (:mod:`egbench_core.modes`): what each spec resolves to, what each
mode decides, and that planning, the train stage and reports read that list (not strings)."""

from __future__ import annotations

import dataclasses

import pytest

from egbench_core import modes
from egbench_core.interfaces import MODES, ModelSpec, TaskPlan, calculator_model, pretrained_models
from egbench_core.report.leaderboard import MODE_ORDER, MODE_TITLES, cell_mode
from egbench_core.stages import train as stage_train


def _build(*_args):
    raise AssertionError("not built in these tests")


PRESETS = {"smoke": {"cutoff": 4.0}}


def test_each_kind_of_spec_resolves_to_its_mode():
    scratch = ModelSpec(name="net", build=_build, presets=PRESETS)
    zero, tuned = pretrained_models("pre", lambda: None, cutoff=4.0, finetune={"smoke": {"epochs": 1}})
    calc = calculator_model("calc", lambda: None)
    got = [modes.mode_of(s) for s in (scratch, zero, tuned, calc)]
    assert got == [modes.FROM_SCRATCH, modes.ZERO_SHOT, modes.FINE_TUNED, modes.CALCULATOR_BACKED]
    assert [s.mode for s in (scratch, zero, tuned, calc)] == ["from-scratch", "zero-shot", "fine-tuned", "zero-shot"]


def test_what_each_mode_decides():
    table = {m.name: (m.id, m.backend, m.pretrained, m.trains, m.precision, m.md_engine) for m in modes.MODES}
    assert table == {
        "from-scratch": ("from-scratch", "network", False, True, None, None),
        "zero-shot": ("zero-shot", "network", True, False, None, None),
        "fine-tuned": ("fine-tuned", "network", True, True, None, None),
        "calculator-backed": ("zero-shot", "calculator", True, False, "calculator", "ase"),
    }
    for m in modes.MODES:  # a mode that does not train says so in the training record
        assert bool(m.not_trained) == (not m.trains), m


def test_a_calculator_spec_left_at_the_default_mode_is_zero_shot_and_one_that_asks_to_train_is_refused():
    spec = ModelSpec(name="calc", build=_build, presets=PRESETS, calculator=lambda: None)
    assert spec.mode == "zero-shot" and modes.mode_of(spec) is modes.CALCULATOR_BACKED
    with pytest.raises(ValueError, match=r"model 'calc': mode 'fine-tuned': a calculator-backed model is one of"):
        ModelSpec(name="calc", build=_build, presets=PRESETS, calculator=lambda: None, mode="fine-tuned")
    with pytest.raises(ValueError, match=r"model 'net': mode 'pretrained': a model is one of \['from-scratch', "):
        ModelSpec(name="net", build=_build, presets=PRESETS, mode="pretrained")


def test_the_ids_a_spec_may_take_and_the_report_groups_come_from_the_one_list():
    assert modes.IDS == MODES == ("from-scratch", "zero-shot", "fine-tuned")
    assert list(MODE_ORDER) == list(MODE_TITLES) == list(modes.IDS)
    assert MODE_TITLES["zero-shot"] == modes.ZERO_SHOT.title
    assert cell_mode({"model": {"mode": "zero-shot"}}) == "zero-shot"


def test_every_backend_has_a_way_to_fit_and_to_load():
    backends = {m.backend for m in modes.MODES}
    assert backends == set(stage_train.FIT) == set(stage_train.LOAD)


class _Dataset:
    name = "ds"

    def __init__(self, missing: set[str]):
        self.missing = missing

    def unavailable_reason(self, splits):
        gone = [s for s in splits if s in self.missing]
        return f"{gone} not available offline" if gone else ""


PLAN = TaskPlan(train_split="train", val_split="val", eval_splits=("test",), md=None)


@pytest.mark.parametrize("mode", [modes.ZERO_SHOT, modes.CALCULATOR_BACKED])
def test_a_zero_shot_mode_refits_on_the_validation_split_only_where_the_training_file_is_missing(mode):
    swapped = mode.plan(PLAN, _Dataset({"train"}))
    assert swapped == dataclasses.replace(PLAN, train_split="val", note=swapped.note)
    assert swapped.note == (
        "zero-shot energy offsets refitted on the 'val' split: ds's 'train' split is not available "
        "(['train'] not available offline)"
    )
    assert mode.plan(PLAN, _Dataset(set())) is PLAN
    assert mode.plan(PLAN, _Dataset({"train", "val"})) is PLAN  # nothing serves: the plan's check skips it


@pytest.mark.parametrize("mode", [modes.FROM_SCRATCH, modes.FINE_TUNED])
def test_a_training_mode_keeps_the_plan(mode):
    assert mode.plan(PLAN, _Dataset({"train"})) is PLAN
