"""Without a kernel, every dashboard is shown as a picture of its default state.

Each notebook is exported to HTML with nbconvert, as GitHub and nbviewer
render it: no kernel, no widget state. Wherever a cell's output is a
dashboard (a widget view that also carries a PNG), the exported cell must
contain that PNG as an image.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELL_START = re.compile(r'<div class="jp-Cell jp-(?:Code|Markdown|Raw)Cell')


def is_dashboard_output(output: dict) -> bool:
    data = output.get("data", {})
    return WIDGET_VIEW in data and "image/png" in data


def exported_cells(notebook) -> list[str]:
    html, _ = HTMLExporter().from_notebook_node(notebook)
    starts = [match.start() for match in CELL_START.finditer(html)]
    return [html[a:b] for a, b in zip(starts, starts[1:] + [len(html)])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_dashboards_render_as_images(path):
    notebook = nbformat.read(path, as_version=4)
    cells = exported_cells(notebook)
    assert len(cells) == len(notebook.cells)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        outputs = [o for o in cell.outputs if is_dashboard_output(o)]
        for output in outputs:
            png = output["data"]["image/png"].strip()
            assert f"data:image/png;base64,{png[:64]}" in cells[index], (
                f"cell {index} of {path.name}: the dashboard's picture is "
                "missing from the HTML export"
            )


def test_welcome_has_a_dashboard_picture():
    # Guards the test above against passing because nothing was found.
    notebook = nbformat.read(ROOT / "notebooks" / "00_welcome.ipynb", as_version=4)
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert sum(map(is_dashboard_output, outputs)) >= 1
