"""Any ASE calculator as a model, without a plugin: ``egbench run --models 'ase:package.module:Class?key=value'``.

The spec names a module, a calculator class in it and keyword arguments for its constructor
(``&`` between pairs; values are read as int, float, ``true``/``false``, ``none``, else text;
``%xx`` escapes are decoded). The model's id is derived from the spec: ``ase-`` followed by its
module, class, keys and values in lowercase kebab-case (``ase:tblite.ase:TBLite?method=GFN2-xTB``
→ ``ase-tblite-ase-tblite-method-gfn2-xtb``); the full spec is kept in every cell's provenance
(so in its key), where a worker reads it back (:func:`model_for_cell`). Such a model is
calculator-backed (:mod:`egbench_core.model.calculator_model`): evaluated and simulated through the
calculator, never trained.

A spec whose module can be imported is checked when the model is made: the name must be an ASE
calculator class, and every keyword must be one the calculator declares (its ``__init__``
parameters, following ``**kwargs`` up the classes it is forwarded to, and ASE's
``default_parameters``, which ``Calculator(**kwargs)`` keeps); anything else is an
:class:`AseSpecError` (one line for the user). Only a module that cannot be found at all leaves the
model's cells skipped as a missing dependency.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import importlib.util
import inspect
import re
from typing import Any
from urllib.parse import unquote

from egbench_core.interfaces import calculator_model

PREFIX = "ase:"
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXAMPLE = "e.g. 'ase:tblite.ase:TBLite?method=GFN2-xTB'"


class AseSpecError(ValueError):
    """A malformed ``ase:`` model spec (one line for the user)."""


def is_ase_spec(text: str) -> bool:
    return text.strip().startswith(PREFIX)


def parse_spec(text: str) -> tuple[str, str, dict[str, Any]]:
    """``ase:module:Class?k=v&k2=v2`` → (module, class name, keyword arguments)."""
    text = text.strip()
    if not text.startswith(PREFIX):
        raise AseSpecError(f"model spec {text!r} does not start with 'ase:' ({_EXAMPLE})")
    body, _, query = text[len(PREFIX) :].partition("?")
    module, sep, cls = body.partition(":")
    if not sep or not module or not cls:
        raise AseSpecError(f"model spec {text!r}: expected 'ase:package.module:ClassName' ({_EXAMPLE})")
    if not _MODULE_RE.match(module):
        raise AseSpecError(f"model spec {text!r}: {module!r} is not a dotted module name")
    if not _NAME_RE.match(cls):
        raise AseSpecError(f"model spec {text!r}: {cls!r} is not a class name")
    kwargs: dict[str, Any] = {}
    if query:
        for pair in query.split("&"):
            key, eq, value = pair.partition("=")
            if not eq or not _NAME_RE.match(key):
                raise AseSpecError(f"model spec {text!r}: {pair!r} is not key=value with a Python identifier as key")
            if key in kwargs:
                raise AseSpecError(f"model spec {text!r}: key {key!r} is given twice")
            kwargs[key] = _value(unquote(value))
    elif text.endswith("?"):
        raise AseSpecError(f"model spec {text!r}: nothing after '?' (expected key=value)")
    return module, cls, kwargs


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def model_id(text: str) -> str:
    """The lowercase kebab-case id of an ``ase:`` spec (see the module docstring)."""
    module, cls, kwargs = parse_spec(text)
    parts = [module, cls] + [f"{k}-{v}" for k, v in kwargs.items()]
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")
    return f"ase-{slug}"


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides the top-level package of ``module`` (None: none)."""
    top = module.split(".")[0]
    dists = md.packages_distributions().get(top) or []
    return dists[0] if dists else None


def _importable(module: str) -> bool:
    """Whether the top-level package of ``module`` can be found (installed, standard library or on
    the path), without importing it."""
    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def ase_model(text: str, check_import: bool = True):
    """The calculator-backed :class:`~egbench_core.interfaces.ModelSpec` of an ``ase:`` spec.
    ``check_import``: when the module can be found, import it and check that the name is an ASE
    calculator class and that it declares every keyword (:class:`AseSpecError` otherwise); a module
    that cannot be found leaves the model's cells skipped (``requires``)."""
    module, cls, kwargs = parse_spec(text)
    dist = distribution_of(module)
    if check_import and (dist is not None or _importable(module)):
        check_kwargs(text, _load_class(text, module, cls), kwargs)
    version = md.version(dist) if dist else "not installed"

    def make():
        return _load_class(text, module, cls)(**kwargs)

    return calculator_model(
        model_id(text),
        make,
        version=version,
        description=f"ASE calculator {module}.{cls}({_kwargs_text(kwargs)})",
        url="",
        requires=[dist or module.split(".")[0]],
    )


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _load_class(text: str, module: str, cls: str):
    from ase.calculators.calculator import BaseCalculator

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise AseSpecError(f"model spec {text!r}: cannot import {module}: {exc}") from None
    obj = getattr(mod, cls, None)
    if obj is None:
        raise AseSpecError(f"model spec {text!r}: module {module} has no {cls!r}")
    if not (isinstance(obj, type) and issubclass(obj, BaseCalculator)):
        got = (
            "a module"
            if inspect.ismodule(obj)
            else f"a {type(obj).__name__}"
            if not isinstance(obj, type)
            else "a class"
        )
        raise AseSpecError(
            f"model spec {text!r}: {module}.{cls} is not an ASE calculator class (it is {got}; expected a "
            "subclass of ase.calculators.calculator.BaseCalculator)"
        )
    return obj


def declared_keywords(calculator: type) -> set[str]:
    """The keyword arguments ``calculator(**kwargs)`` declares: the named parameters of each
    ``__init__`` along the MRO while the one before forwards ``**kwargs``, and, where the chain
    reaches ASE's ``Calculator`` (whose ``**kwargs`` become the calculator's parameters), every
    ``default_parameters`` key."""
    from ase.calculators.calculator import Calculator

    names: set[str] = set()
    for klass in calculator.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # a builtin without a signature: nothing more is declared
            break
        names.update(
            p.name
            for p in list(params)[1:]  # past self
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )
        if klass is Calculator:
            names.update(getattr(calculator, "default_parameters", None) or {})
            break
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return names


def check_kwargs(text: str, calculator: type, kwargs: dict[str, Any]) -> None:
    """:class:`AseSpecError` naming the first keyword of ``kwargs`` that ``calculator`` does not
    declare (:func:`declared_keywords`), the calculator and the keys it does declare, nearest first."""
    valid = declared_keywords(calculator)
    for key in kwargs:
        if key in valid:
            continue
        ranked = difflib.get_close_matches(key, sorted(valid), n=len(valid), cutoff=0.0)
        expected = f"valid keys: {', '.join(ranked)}" if ranked else "it declares no keyword arguments"
        raise AseSpecError(
            f"model spec {text!r}: {calculator.__module__}.{calculator.__qualname__} has no keyword "
            f"argument {key!r}; {expected}"
        )


def provenance(spec_text: str) -> dict[str, Any]:
    """What an ``ase:`` model adds to a cell's provenance (and so to its key)."""
    module, cls, kwargs = parse_spec(spec_text)
    dist = distribution_of(module)
    return {
        "ase_spec": spec_text.strip(),
        "calculator": {"module": module, "class": cls, "kwargs": kwargs},
        "code": {"dist": dist or "", "version": md.version(dist) if dist else ""},
    }


def model_for_cell(catalog, cell):
    """The model spec of ``cell``: an ``ase:`` model from the spec its provenance keeps (so a Dask
    worker can rebuild it), otherwise the catalog's."""
    text = (cell.provenance.get("model") or {}).get("ase_spec") if cell.provenance else None
    if text:
        return ase_model(text)
    return catalog.get("models", cell.model)
