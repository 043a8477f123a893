"""``egbench report --format html``: a self-contained folder of pages rebuilt from the results store.

* ``tables.py``: the Overview leaderboards (one per paper table) as structured cells;
* ``ood.py``: in-distribution beside out-of-distribution, per task, with the ratio;
* ``series.py``: the arrays behind the per-dataset plots, read from the cells' artifacts;
* ``figures.py``: those arrays as plotly.js figures (plain dicts);
* ``pages.py``: the HTML of each page; ``assets/``: the style sheet and the page script;
* ``write.py``: writes the folder (pages, assets, plotly.js copied from the plotly package).

Everything but ``write.py`` only reads; nothing is fetched when the pages are opened.
"""
