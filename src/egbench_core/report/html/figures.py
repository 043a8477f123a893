"""The per-dataset plots as plotly.js figures (plain dicts: ``data`` traces and a ``layout``), or,
where nothing was stored, the reason instead. One colour per model on every page; reference
curves black and dashed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from egbench_core.report.html.series import DatasetTask, pareto

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
REFERENCE = {"color": "black", "dash": "dash", "width": 1.5}


@dataclass
class Figure:
    key: str  # rdf | oracle-force | ev | fv | survival | parity-forces | parity-energy | loss | lr | cost
    title: str
    caption: str
    data: list[dict[str, Any]] = field(default_factory=list)
    layout: dict[str, Any] = field(default_factory=dict)
    empty: str = ""  # why there is no plot


def colours(models: list[str]) -> dict[str, str]:
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(sorted(set(models)))}


def _layout(title: str, x: str, y: str, log_y: bool = False, **extra: Any) -> dict[str, Any]:
    axis = {"gridcolor": "#e6e6e6", "linecolor": "#444", "mirror": True, "ticks": "outside", "zeroline": False}
    return {
        "title": {"text": title, "font": {"size": 14}},
        "height": 360,
        "margin": {"l": 64, "r": 16, "t": 44, "b": 52},
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hovermode": "closest",
        "legend": {"font": {"size": 10}, "bgcolor": "rgba(255,255,255,0.7)"},
        "xaxis": {**axis, "title": {"text": x}},
        "yaxis": {**axis, "title": {"text": y}, **({"type": "log"} if log_y else {})},
        **extra,
    }


def _line(x, y, name: str, colour: str, group: str, show: bool = True, dash: str = "solid", **extra) -> dict:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": list(x),
        "y": list(y),
        "name": name,
        "legendgroup": group,
        "showlegend": show,
        "line": {"color": colour, "width": 1.6, "dash": dash},
        **extra,
    }


def _fig(key, title, caption, data, layout, why) -> Figure:
    return Figure(key, title, caption, data, layout) if data else Figure(key, title, caption, empty=why)


def rdf(dt: DatasetTask, col: dict[str, str]) -> Figure:
    have = [(s, s.rdf) for s in dt.series if s.rdf]
    data = []
    if have:
        ref = have[0][1]
        data.append(_line(ref["r"], ref["g_ref"], "reference", "black", "reference", line=REFERENCE))
        data += [_line(rdf["r"], rdf["g"], s.label, col[s.model], s.label) for s, rdf in have]
    periodic = bool(have and have[0][1].get("periodic"))
    return _fig(
        "rdf",
        "Radial distribution over the reference",
        "g(r) of each model's stable MD frames (all replicas) and of the reference split (dashed).",
        data,
        _layout(
            f"{dt.dataset} · {dt.task}: radial distribution",
            "r (Å)",
            "g(r)" if periodic else "pair-distance density (1/Å)",
        ),
        "no RDF stored (no MD in this task)",
    )


def oracle_force(dt: DatasetTask, col: dict[str, str]) -> Figure:
    data = []
    for s in dt.series:
        for k, r in enumerate(s.oracle):
            data.append(
                _line(
                    r["time_fs"],
                    [1e3 * v for v in r["force_mae"]],
                    s.label,
                    col[s.model],
                    s.label,
                    show=k == 0,
                    hovertemplate=f"{s.label} replica {r.get('replica', k)}<br>"
                    "%{x} fs: %{y:.1f} meV/Å<extra></extra>",
                )
            )
    why = next((s.oracle_reason for s in dt.series if s.oracle_reason), "") or "no oracle labelled the MD frames"
    return _fig(
        "oracle-force",
        "Oracle force error over time",
        "Force MAE of each frame the model visited, against the dataset's oracle (one line per replica).",
        data,
        _layout(f"{dt.dataset} · {dt.task}: force error along MD", "time (fs)", "force MAE vs oracle (meV/Å)"),
        why,
    )


def _violation(dt: DatasetTask, col: dict[str, str], what: str) -> Figure:
    data, seen = [], set()
    for s in dt.series:  # one legend entry per model; the line style tells the mode
        for doc in sorted(s.dynamics, key=lambda d: d.get("mode") != "oracle"):  # the legend shows a solid line
            mode = doc.get("mode", "")
            for k, ser in enumerate(doc.get("series", [])):
                y = [max(v, 1e-12) for v in ser[what]] if what == "ev" else ser[what]
                hover = f"{s.label}, {mode}, replica {k}<br>%{{x}} fs: %{{y:.3g}}<extra></extra>"
                data.append(
                    _line(
                        ser["time_fs"],
                        y,
                        s.label,
                        col[s.model],
                        s.label,
                        show=s.label not in seen,
                        dash="solid" if mode == "oracle" else "dash",
                        hovertemplate=hover,
                    )
                )
                seen.add(s.label)
    if data and what == "fv":
        t = [min(min(d["x"]) for d in data), max(max(d["x"]) for d in data)]
        data.append(_line(t, [math.sqrt(0.5)] * 2, "√2/2 (uncorrelated forces)", "#999", "ref", dash="dot"))
    title = {"ev": "Energy violation EV(t)", "fv": "Force violation FV(t)"}[what]
    lay = _layout(
        f"{dt.dataset} · {dt.task}: {title}", "time (fs)", {"ev": "EV(t)", "fv": "FV(t)"}[what], log_y=what == "ev"
    )
    if what == "ev":
        lay["yaxis"]["exponentformat"] = "power"
    return _fig(
        what,
        title,
        "Each replica a line; oracle mode solid (frames the model visited, labelled by the "
        "oracle), aligned mode dashed (the reference trajectory at the same time).",
        data,
        lay,
        "no EV/FV stored: no oracle labelled the frames and the reference is not a time-contiguous trajectory",
    )


def survival(dt: DatasetTask, col: dict[str, str]) -> Figure:
    data = [
        _line(s.survival["time_fs"], s.survival["fraction"], s.label, col[s.model], s.label, line_shape="hv")
        for s in dt.series
        if s.survival
    ]
    lay = _layout(f"{dt.dataset} · {dt.task}: stability", "time (fs)", "fraction of replicas stable")
    lay["yaxis"]["range"] = [-0.03, 1.05]
    return _fig(
        "survival",
        "Survival",
        "Fraction of MD replicas still stable against simulated time.",
        data,
        lay,
        "no stability record (no MD in this task)",
    )


def _parity(dt: DatasetTask, col: dict[str, str], what: str) -> Figure:
    have = [(s, s.parity) for s in dt.series if s.parity]
    ref, pred = ("f_ref", "f_pred") if what == "forces" else ("e_ref", "e_pred")
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "x": parity[ref],
            "y": parity[pred],
            "name": s.label,
            "marker": {"color": col[s.model], "size": 4, "opacity": 0.55},
        }
        for s, parity in have
    ]
    if data:
        lo = min(min(d["x"] + d["y"]) for d in data)
        hi = max(max(d["x"] + d["y"]) for d in data)
        data.append(_line([lo, hi], [lo, hi], "y = x", "black", "ref", line=REFERENCE, hoverinfo="skip"))
    unit = "eV/Å" if what == "forces" else "eV/atom"
    quantity = "force component" if what == "forces" else "energy per atom"
    n = ""
    if have:
        total = have[0][1]["n_forces" if what == "forces" else "n_frames"]
        shown = len(have[0][1][ref])
        what_n = "force components" if what == "forces" else "frames"
        n = f"{shown} of {total} {what_n} per model, evenly spaced" if shown < total else f"all {total} {what_n}"
    return _fig(
        f"parity-{what}",
        f"Parity: {quantity}",
        f"Predicted against reference {quantity} on the {dt.split!r} split ({n}; from the stored predictions).",
        data,
        _layout(f"{dt.dataset} · {dt.task}: {quantity} on {dt.split}", f"reference ({unit})", f"predicted ({unit})"),
        "no stored predictions",
    )


def _per_epoch(s, col: dict[str, str], key: str, **extra: Any) -> dict:
    """A model's curve of ``key`` of its training history (a loss, the learning rate) per epoch."""
    return _line(
        [h["epoch"] for h in s.history], [h.get(key) for h in s.history], s.label, col[s.model], s.label, **extra
    )


def _per_epoch_fig(dt: DatasetTask, key: str, title: str, caption: str, data: list, y: str, why: str) -> Figure:
    """A figure of per-epoch curves, ``y`` on a log axis."""
    return _fig(key, title, caption, data, _layout(f"{dt.dataset} · {dt.task}: {y}", "epoch", y, log_y=True), why)


def loss(dt: DatasetTask, col: dict[str, str]) -> Figure:
    data = []
    for s in dt.series:
        if not s.history:
            continue
        at = "<br>epoch %{x}: %{y:.4g}<extra></extra>"
        data.append(_per_epoch(s, col, "train_loss", hovertemplate=f"{s.label} train{at}"))
        data.append(_per_epoch(s, col, "val_loss", show=False, dash="dash", hovertemplate=f"{s.label} validation{at}"))
    return _per_epoch_fig(
        dt,
        "loss",
        "Training curves",
        "Training (solid) and validation (dashed) loss per epoch.",
        data,
        "loss",
        "no training history stored",
    )


def lr(dt: DatasetTask, col: dict[str, str]) -> Figure:
    data = [
        _per_epoch(s, col, "lr", mode="lines+markers")
        for s in dt.series
        if s.history and all(h.get("lr") for h in s.history)
    ]
    return _per_epoch_fig(
        dt, "lr", "Learning rate", "Learning rate per epoch.", data, "learning rate", "no learning rate stored"
    )


def cost(dt: DatasetTask, col: dict[str, str]) -> Figure:
    front = pareto(dt.cost)
    on_front = {p.model for p in front}
    data = [
        {
            "type": "scatter",
            "mode": "markers+text",
            "x": [p.ms_per_step],
            "y": [p.force_mae],
            "name": p.model,
            "text": [p.model.split(" [")[0]],
            "textposition": "top center",
            "cliponaxis": False,
            "marker": {
                "color": col[p.model],
                "size": 11 if p.model in on_front else 8,
                "line": {"color": "black", "width": 2 if p.model in on_front else 0},
            },
            "hovertemplate": f"{p.model}<br>%{{x:.2f}} ms/step, %{{y:.1f}} meV/Å<extra></extra>",
        }
        for p in dt.cost
    ]
    if len(front) > 1:
        data.append(
            _line(
                [p.ms_per_step for p in front],
                [p.force_mae for p in front],
                "Pareto front",
                "black",
                "front",
                dash="dot",
                line_shape="hv",
            )
        )
    elif front:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [front[0].ms_per_step],
                "y": [front[0].force_mae],
                "name": "Pareto front",
                "marker": {"symbol": "circle-open", "size": 18, "color": "black"},
            }
        )
    return _fig(
        "cost",
        "Accuracy vs cost",
        "Force MAE on the evaluation split against MD time per step (mean over seeds; measured on the "
        "machine that ran each cell). Outlined points form the Pareto front (no model is both more "
        "accurate and faster).",
        data,
        _layout(f"{dt.dataset} · {dt.task}: accuracy vs cost", "MD time per step (ms)", "F MAE (meV/Å)"),
        "needs a force MAE and an MD time per step",
    )


def figures(dt: DatasetTask, col: dict[str, str]) -> list[Figure]:
    return [
        rdf(dt, col),
        oracle_force(dt, col),
        _violation(dt, col, "ev"),
        _violation(dt, col, "fv"),
        survival(dt, col),
        _parity(dt, col, "forces"),
        _parity(dt, col, "energy"),
        loss(dt, col),
        lr(dt, col),
        cost(dt, col),
    ]
