"""The EGraFFBench article's result tables (Tables 1–8), shipped as package data.

The CSVs in ``egbench_core/paper_tables/`` are a transcription of the published tables (their
``README.md`` gives units, columns and the source's ambiguities); egbench computes none of them.
Cells are kept as the printed strings (``"2.0"``, ``"0.700"``), so the printed precision
survives; an empty cell is a value the article printed as "—" (or, for three LiPS20 standard
deviations, one that could not be read).
"""

from __future__ import annotations

import csv
import importlib.resources
import io
from dataclasses import dataclass
from functools import lru_cache

ARTICLE = (
    'V. Bihani et al., "EGraFFBench: evaluation of equivariant graph neural network force fields for '
    'atomistic simulations", Digital Discovery, 2024, 3, 759 (DOI 10.1039/d4dd00027g)'
)
FOLDER = "paper_tables"

# table number -> (file, join-key columns, kind: which egbench layout its values pair with)
FILES = {
    1: ("table1_static.csv", ("dataset", "model"), "static"),
    2: ("table2_structure.csv", ("dataset", "model"), "structure"),
    3: ("table3_dynamics.csv", ("dataset", "model"), "dynamics"),
    4: ("table4_cost.csv", ("dataset", "model"), "cost"),
    5: ("table5_temperature_dynamics.csv", ("dataset", "temperature_K", "model"), "dynamics"),
    6: ("table6_temperature_structure.csv", ("dataset", "temperature_K", "model"), "structure"),
    7: ("table7_lips20_dynamics.csv", ("structures", "model"), "dynamics"),
    8: ("table8_lips20_structure.csv", ("structures", "model"), "structure"),
}


@dataclass(frozen=True)
class PaperTable:
    number: int
    file: str
    keys: tuple[str, ...]
    kind: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]

    def row(self, **key: str) -> dict[str, str] | None:
        """The row whose key columns equal ``key`` (all of them given), or None."""
        if set(key) != set(self.keys):
            raise KeyError(f"table {self.number} is keyed by {', '.join(self.keys)}, not {', '.join(sorted(key))}")
        return next((r for r in self.rows if all(r[k] == v for k, v in key.items())), None)


def _read(name: str) -> str:
    return importlib.resources.files("egbench_core.report").joinpath(FOLDER, name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_tables() -> dict[int, PaperTable]:
    """All eight tables, by the article's table number."""
    out = {}
    for number, (file, keys, kind) in FILES.items():
        reader = csv.DictReader(io.StringIO(_read(file)))
        rows = tuple(dict(r) for r in reader)
        out[number] = PaperTable(number, file, keys, kind, tuple(reader.fieldnames or ()), rows)
    return out
