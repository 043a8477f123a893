"""The HTML report of the smoke store (``report_store``) opened from ``file://`` in headless
Chromium (Debian's ``chromium``, driven by Playwright's Python package; Playwright never downloads
a browser of its own), offline, with every request intercepted: no console errors, only file://
requests, every plot drawn, sortable columns, reasons on hover, screenshots.

Needs ``/usr/bin/chromium`` (``EGBENCH_CHROMIUM`` names another) and ``playwright``: skipped
without them on a developer's machine, failed in CI (``CI`` set), where ``.ci/run`` installs them.
Screenshots go to ``EGBENCH_SCREENSHOTS`` if set, else to the test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from egbench_core.report.html.write import write_report

pytestmark = pytest.mark.slow
CHROMIUM = Path(os.environ.get("EGBENCH_CHROMIUM", "/usr/bin/chromium"))
# as root on a machine without a network: no sandbox, no GPU, no background traffic to Google
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = ("index.html", "ood.html", "dataset-acac.html", "dataset-synthetic-emt.html", "provenance.html")


def _need_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401  (only whether it imports)
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium chromium-driver)")
    if missing:
        why = "the browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def site(report_store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report"
    write_report(report_store, out)
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A persistent context in a fresh profile folder, offline; every request recorded, anything
    but a file:// request refused."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1440, "height": 900},
            offline=True,
        )
        ctx.requests = []

        def gate(route):
            ctx.requests.append(route.request.url)
            route.continue_() if route.request.url.startswith("file://") else route.abort()

        ctx.route("**/*", gate)
        yield ctx
        ctx.close()


def _open(browser, site: Path, name: str):
    page = browser.new_page()
    page.problems = []
    page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.goto((site / name).as_uri())
    if page.locator(".plot").count():
        page.wait_for_selector("body[data-plots=drawn]", timeout=30_000)
    return page


def test_pages_load_without_errors_and_fetch_only_files(browser, site):
    before = len(browser.requests)
    for name in PAGES:
        page = _open(browser, site, name)
        assert page.problems == [], (name, page.problems)
        assert page.locator("header.top nav a").count() == len(PAGES)
        page.close()
    seen = browser.requests[before:]
    assert seen and all(u.startswith("file://") for u in seen), [u for u in seen if not u.startswith("file://")]
    assert any(u.endswith("/assets/plotly.min.js") for u in seen) and any(
        u.endswith("/assets/report.css") for u in seen
    )


PLOT_STATE = """() => Array.from(document.querySelectorAll('.plot')).map(div => {
  const svg = div.querySelector('svg.main-svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const drawn = Array.from(div.querySelectorAll('.scatterlayer .trace path.js-line, .scatterlayer .trace path.point'))
    .filter(p => (p.getAttribute('d') || '').length > 2).length;
  return {kind: div.closest('figure').dataset.kind, id: div.id, width: box.width, height: box.height,
          traces: div.querySelectorAll('.scatterlayer .trace').length, drawn: drawn};
})"""


@pytest.mark.parametrize(
    "name, kinds",
    [
        (
            "dataset-synthetic-emt.html",
            {"rdf", "oracle-force", "ev", "fv", "survival", "parity-forces", "parity-energy", "loss", "lr", "cost"},
        ),
        ("dataset-acac.html", {"rdf", "survival", "parity-forces", "parity-energy", "loss", "lr", "cost"}),
    ],
)
def test_every_plot_is_drawn(browser, site, name, kinds):
    page = _open(browser, site, name)
    plots = page.evaluate(PLOT_STATE)
    assert {p["kind"] for p in plots} == kinds
    for p in plots:
        assert p["width"] > 200 and p["height"] > 200 and p["traces"] > 0 and p["drawn"] > 0, p
    # acac has no oracle here: those figures say why instead of drawing nothing
    empty = page.locator("figure.empty .noplot").all_inner_texts()
    assert (name == "dataset-acac.html") == bool(empty)
    assert all(text.strip() for text in empty)
    page.close()


def _column(page, table: str, header: str) -> list[str]:
    col = page.locator(f"#{table} th[data-col]", has_text=header).first.get_attribute("data-col")
    return page.evaluate(
        """([table, col]) => Array.from(document.querySelectorAll(`#${table} tbody tr`))
        .filter(r => r.offsetParent !== null).map(r => r.cells[col].getAttribute('data-sort'))""",
        [table, int(col)],
    )


def test_clicking_a_header_sorts_the_rows(browser, site):
    page = _open(browser, site, "index.html")
    models = "() => Array.from(document.querySelectorAll('#t-static tbody tr')).map(r => r.innerText.split('\\t')[0])"
    first = page.evaluate(models)
    header = page.locator("#t-static th[data-col]", has_text="F MAE (meV/Å)")
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    up = [float(v) for v in _column(page, "t-static", "F MAE (meV/Å)") if v is not None]
    assert len(up) == 6 and up == sorted(up)  # the done rows: 2 models × (acac × 2 tasks + synthetic-emt)
    assert page.evaluate(models) != first  # the rows moved
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    down = [float(v) for v in _column(page, "t-static", "F MAE (meV/Å)") if v is not None]
    assert down == sorted(up, reverse=True)
    # text columns sort too
    page.locator("#t-static th[data-col]", has_text="model").first.click()
    names = [t.split(" [")[0] for t in page.evaluate(models) if t]
    assert names == sorted(names)
    page.close()


def test_a_hover_shows_why_a_cell_was_skipped(browser, site):
    page = _open(browser, site, "index.html")
    row = page.locator("#t-static tr.row-skipped", has_text="toy-molecular")
    assert not row.is_visible()  # skipped cells are folded away by default
    page.locator("input.show-skipped[data-table=t-static]").check()
    assert row.is_visible()
    cell = row.locator("td.c-skipped").first
    cell.hover()
    assert "does not support periodic systems" in cell.get_attribute("title")
    assert "does not support periodic systems" in row.locator(".badge.b-skipped").get_attribute("title")
    failed = page.locator("#t-static tr.row-failed", has_text="toy-broken").locator("td.c-failed").first
    assert failed.get_attribute("title") == "RuntimeError: build exploded on purpose"
    page.close()


def test_ood_page_pairs_300_with_600_kelvin(browser, site):
    page = _open(browser, site, "ood.html")
    row = page.locator("#t-ood-ood-temperature tbody tr", has_text="toy-pair")
    text = row.inner_text()
    assert "test · MD 300 K" in text and "test-600k · MD 600 K" in text and "×" in text
    page.close()


def test_screenshots(browser, site, tmp_path):
    folder = Path(os.environ.get("EGBENCH_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "ood.html", "dataset-synthetic-emt.html"):
        page = _open(browser, site, name)
        shot = folder / f"report-{name.removesuffix('.html')}.png"
        page.screenshot(path=str(shot), full_page=True)
        page.close()
        head = shot.read_bytes()[:24]
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert head[:8] == b"\x89PNG\r\n\x1a\n" and width == 1440 and height >= 600, (shot, width, height)
