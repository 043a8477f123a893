"""The Provenance page: runs, code and library versions (``report.provenance_tables``), and per
cell the hardware, device, seeds and timing; the data checksums every cell used; the oracle
calibrations; and what built the report."""

from __future__ import annotations

from egbench_core.report.html.render import Site, esc, page, plain_table
from egbench_core.report.leaderboard import latest_cells, oracle_calibrations, provenance_tables
from egbench_core.store import Store


def cell_hardware(store: Store) -> tuple[list[str], list[list[str]]]:
    # the table's column headers, in order: a list of names, kept as one (not one a line)
    # fmt: off
    headers = [
        "model", "dataset", "task", "seed", "status", "run", "device", "processor", "torch threads", "precision",
        "MD engine", "torch", "python", "replica seeds", "duration (s)", "cell key",
    ]
    # fmt: on
    rows = []
    for c in latest_cells(store)[0]:
        hw = c.info.get("hardware") or {}
        seeds = c.info.get("seeds") or {}
        cpu = f"{hw.get('cpu', '')} × {hw['cores']}" if hw.get("cores") else str(hw.get("cpu", ""))
        device = hw.get("device", "") + (
            f" ({hw['device_name']})" if hw.get("device_name") and hw.get("device") != "cpu" else ""
        )
        rows.append(
            [
                f"{c.model} [{c.preset}]",
                c.dataset,
                c.task,
                str(c.seed),
                c.status,
                str(c.run_id or ""),
                device,
                cpu,
                str(hw.get("torch_threads", "")),
                str(hw.get("precision", "")),
                str(hw.get("md_engine", "")),
                str(hw.get("torch", "")),
                str(hw.get("python", "")),
                ", ".join(map(str, seeds.get("replicas") or [])),
                f"{c.duration_s:.1f}" if c.duration_s is not None else "",
                c.key[:16],
            ]
        )
    return headers, rows


def data_checksums(store: Store) -> tuple[list[str], list[list[str]]]:
    """Every data file (and split definition) the cells' keys hashed: sha256, format and units."""
    seen: dict[tuple[str, str], list[str]] = {}
    for c in latest_cells(store)[0]:
        for name, ref in ((c.provenance or {}).get("data") or {}).items():
            for item, value in ((ref or {}).get("fingerprint") or {}).items():
                parts = dict(p.split("=", 1) for p in str(value).split(";")[1:] if "=" in p)
                digest = str(value).split(";")[0]
                seen.setdefault((name, item), [name, item, digest, parts.get("format", ""), parts.get("units", "")])
    return ["dataset", "file or part", "checksum", "format", "units"], [seen[k] for k in sorted(seen)]


def provenance_html(site: Site, store: Store, builder: list[list[str]]) -> str:
    sections = [("What built this report", ["what", "version"], builder)]
    sections += [(t.capitalize(), h, r) for t, h, r in provenance_tables(store)]
    sections += [
        ("Hardware, device and seeds per cell", *cell_hardware(store)),
        ("Data checksums", *data_checksums(store)),
        ("Oracle calibrations", *oracle_calibrations(store)),
    ]
    body = [
        '<h1>Provenance</h1><p class="lead">Where every number comes from: the runs, the code and libraries, '
        "the machine and device of each cell, its seeds, and the checksums of the data it read.</p>"
    ]
    for k, (title, headers, rows) in enumerate(sections):
        body.append(f'<section id="prov-{k}"><h2>{esc(title)}</h2>')
        body.append(plain_table(headers, rows, f"t-prov-{k}") if rows else "<p>none recorded</p>")
        body.append("</section>")
    return page(site, "Provenance", "provenance.html", "".join(body))
