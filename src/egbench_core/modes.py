"""How a model meets a dataset: the one list of modes (:data:`MODES`).

* **from-scratch**: trained on the dataset by egbench's trainer; energies against the dataset's
  isolated-atom energies (or a fit);
* **zero-shot**: a pretrained network evaluated as it is, its per-element energy offsets refitted
  on the training split;
* **fine-tuned**: as zero-shot, then trained further from the checkpoint (the offsets stay fixed);
* **calculator-backed**: an ASE calculator, never built or trained, offsets refitted as zero-shot
  (its forces are its own); its ``id`` is "zero-shot".

A mode's ``id`` is what :attr:`~egbench_core.interfaces.ModelSpec.mode` holds, what the store
records (the ``train`` stage's key and ``model_info["mode"]``) and how reports group their rows
(:data:`IDS`, in this order, titled by :data:`TITLES`); a calculator-backed model is zero-shot there.
Planning (:meth:`Mode.plan`, :attr:`Mode.precision`, :attr:`Mode.md_engine`), the ``train`` stage
(:attr:`Mode.backend`, :attr:`Mode.pretrained`, :attr:`Mode.trains`) and the ``evaluate`` stage
ask the mode of a spec (:func:`mode_of`) instead of comparing strings.

This module imports nothing of egbench (``interfaces`` validates ``ModelSpec.mode`` against it, and
every stage's code path reaches it).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


class Mode:
    """One way a model meets a dataset; subclasses set the class attributes."""

    name: ClassVar[str]  # unique in MODES (kebab-case)
    id: ClassVar[str]  # ModelSpec.mode, the store's record and the report's group
    title: ClassVar[str]  # the report's caption of the group
    # "network": core builds the potential (``ModelSpec.build``), checkpoint model.pt;
    # "calculator": evaluated and simulated through its ASE calculator, checkpoint model.json
    backend: ClassVar[str] = "network"
    # a pretrained network (or a calculator): its energies rest on per-element offsets refitted by
    # least squares on the training split, never on the dataset's isolated-atom energies
    pretrained: ClassVar[bool] = False
    trains: ClassVar[bool] = True  # egbench's trainer runs
    # what a cell of this mode computes in, whatever ``--dtype`` or the preset say (None: those)
    precision: ClassVar[str | None] = None
    # the MD engine a cell of this mode runs on, whatever ``--md-engine`` says (None: that)
    md_engine: ClassVar[str | None] = None
    # the training record's stop reason of a mode that does not train
    not_trained: ClassVar[str] = ""
    # ``model_info["energy"]`` after training a pretrained network ("" : as the fit left it)
    energy_after_training: ClassVar[str] = ""

    def plan(self, plan: Any, train_ds: Any) -> Any:
        """The task's plan as this mode runs it (``train_ds``: the dataset it trains on)."""
        return plan

    def __repr__(self) -> str:
        return f"<mode {self.name}>"


class FromScratch(Mode):
    name = id = "from-scratch"
    title = "trained from scratch on each dataset"


class ZeroShot(Mode):
    name = id = "zero-shot"
    title = "pretrained, zero-shot (per-element energy offsets refitted on the training split)"
    pretrained = True
    trains = False
    not_trained = (
        "not trained: pretrained network, zero-shot (per-element energy offsets refitted on the training split)"
    )

    def plan(self, plan: Any, train_ds: Any) -> Any:
        """A model that only refits its energy offsets on the training split: where that file is not
        obtainable, the validation split (same system, same DFT) serves, and the plan says so."""
        if plan.train_split == plan.val_split:
            return plan
        missing_train = train_ds.unavailable_reason([plan.train_split])
        if not missing_train or train_ds.unavailable_reason([plan.val_split]):
            return plan
        note = (
            f"zero-shot energy offsets refitted on the {plan.val_split!r} split: "
            f"{train_ds.name}'s {plan.train_split!r} split is not available ({missing_train})"
        )
        return dataclasses.replace(plan, train_split=plan.val_split, note="; ".join(x for x in (plan.note, note) if x))


class FineTuned(Mode):
    name = id = "fine-tuned"
    title = "pretrained, fine-tuned on each training split"
    pretrained = True
    energy_after_training = (
        "fine-tuned from the pretrained checkpoint (per-element energy offsets refitted on the training split first)"
    )


class CalculatorBacked(ZeroShot):
    """Zero-shot through an ASE calculator: never built or trained; simulated on the ``ase`` engine
    (it has no batched path) in the calculator's own precision."""

    name = "calculator-backed"
    backend = "calculator"
    precision = "calculator"
    md_engine = "ase"
    not_trained = "not trained: calculator-backed model (per-element energy offsets refitted on the training split)"


FROM_SCRATCH, ZERO_SHOT, FINE_TUNED, CALCULATOR_BACKED = FromScratch(), ZeroShot(), FineTuned(), CalculatorBacked()
MODES: tuple[Mode, ...] = (FROM_SCRATCH, ZERO_SHOT, FINE_TUNED, CALCULATOR_BACKED)  # the one list

IDS: tuple[str, ...] = tuple(dict.fromkeys(m.id for m in MODES))  # what ModelSpec.mode may be, in report order
TITLES: dict[str, str] = {i: next(m.title for m in MODES if m.id == i) for i in IDS}


def resolve(mode_id: str, calculator_backed: bool) -> Mode:
    """The mode of a spec with ``mode == mode_id`` (ValueError naming the valid ones otherwise)."""
    backend = "calculator" if calculator_backed else "network"
    for m in MODES:
        if m.id == mode_id and m.backend == backend:
            return m
    valid = [m.id for m in MODES if m.backend == backend]
    what = "a calculator-backed model" if calculator_backed else "a model"
    raise ValueError(f"mode {mode_id!r}: {what} is one of {valid}")


def mode_of(spec: Any) -> Mode:
    """The mode of a :class:`~egbench_core.interfaces.ModelSpec`."""
    return resolve(spec.mode, spec.calculator is not None)
