"""Every chapter in a real JupyterLab, driven by headless Chromium.

For each notebook: open it, restart the kernel and run all cells, wait for
an idle kernel, save, and check through the server's contents API that no
cell produced an error. Then, on each dashboard, move a slider with the
keyboard and check that the status text and the plotted image change.

The server runs on a copy of ``notebooks/`` so the committed files are never
rewritten. Screenshots go to ``artifacts/browser/`` (or the folder named by
``COURSE_ARTIFACTS``). Chromium is Debian's ``chromium`` package (or the
executable named by ``COURSE_CHROMIUM``), launched through Playwright's
``executable_path``; without it these tests are skipped, except under CI,
where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from lab_server import TOKEN, running_lab

from course_lib.tools.lab import NOTEBOOKS

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("COURSE_ARTIFACTS", ROOT / "artifacts" / "browser"))
NOTEBOOK_NAMES = sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))

RUN_TIMEOUT_MS = 240_000
# The notebook in the tab on show; other tabs' panels stay in the page, hidden.
VISIBLE_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
UPDATE_TIMEOUT_MS = 20_000

# Flags for a root user in a container with no network: without the
# background-networking ones Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    named = os.environ.get("COURSE_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        message = (
            "Chromium not found: install Debian's chromium package "
            "(apt-get install chromium) or set COURSE_CHROMIUM to its path"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    copy = tmp_path_factory.mktemp("course") / "notebooks"
    shutil.copytree(NOTEBOOKS, copy)
    # Without stored execution counts, the prompts read [1] ... [N] only once
    # the browser's own run has finished.
    for path in copy.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        nbformat.write(notebook, path)
    with running_lab(tmp_path_factory.mktemp("jupyter-runtime"), copy) as server:
        yield server


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()
    lab.shutdown_kernels()


def dismiss_news_prompt(page) -> None:
    button = page.locator(".jp-Notification-Toast button", has_text="No")
    if button.count():
        button.first.click()


def run_menu_item(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def restart_and_run_all(page) -> None:
    run_menu_item(page, "Run", "Restart Kernel and Run All Cells")
    page.locator(".jp-Dialog-button", has_text="Restart").click()
    # After a restart the kernel numbers the code cells 1, 2, ..., N in
    # order, so the run is complete when the prompts read exactly that.
    page.wait_for_function(
        """() => {
            const NOTEBOOK = '"""
        + VISIBLE_NOTEBOOK
        + """';
            const prompts = [...document.querySelectorAll(
                `${NOTEBOOK} .jp-CodeCell .jp-InputArea-prompt`)];
            return prompts.length > 0 && prompts.every(
                (p, i) => p.textContent.trim() === `[${i + 1}]:`);
        }""",
        timeout=RUN_TIMEOUT_MS,
        # A timer, not requestAnimationFrame, which can stall while the page
        # renders heavy outputs.
        polling=500,
    )
    page.get_by_text(re.compile(r"\| Idle")).wait_for(timeout=RUN_TIMEOUT_MS)


def saved_notebook(lab, page, name: str) -> dict:
    """Save the notebook in the browser and return the server's copy."""
    page.keyboard.press("Control+s")
    # The tab of an unsaved document carries the class jp-mod-dirty.
    page.wait_for_function(
        "() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')",
        timeout=30_000,
        polling=500,
    )
    _, body = lab.get(f"/api/contents/{name}")
    return json.loads(body)["content"]


def error_outputs(notebook: dict) -> list[str]:
    errors = []
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                errors.append(f"cell {index}: {output['ename']}: {output['evalue']}")
    return errors


def count_dashboard_outputs(notebook: dict) -> int:
    """Count outputs that carry a live widget and its static PNG: dashboards."""
    return sum(
        "application/vnd.jupyter.widget-view+json" in output.get("data", {})
        and "image/png" in output.get("data", {})
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
    )


def move_a_slider(page, dashboard) -> tuple[str, str]:
    """Press arrow keys on each slider until the status changes.

    Returns the status text before and after.
    """
    status = dashboard.locator(".course-status")
    image = dashboard.locator(".course-figure")
    before_status = status.inner_text()
    before_image = image.get_attribute("src")
    handles = dashboard.locator(".noUi-handle")
    for index in range(handles.count()):
        for key in ("ArrowRight", "ArrowLeft"):
            handles.nth(index).focus()
            for _ in range(3):
                page.keyboard.press(key)
            try:
                page.wait_for_function(
                    "([element, text]) => element.textContent !== text",
                    arg=[status.element_handle(), before_status],
                    timeout=UPDATE_TIMEOUT_MS // 4,
                    polling=200,
                )
            except playwright_api.TimeoutError:
                continue
            page.wait_for_function(
                "([element, src]) => element.getAttribute('src') !== src",
                arg=[image.element_handle(), before_image],
                timeout=UPDATE_TIMEOUT_MS,
                polling=200,
            )
            return before_status, status.inner_text()
    pytest.fail(f"no slider changed the status (still {before_status!r})")


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_chapter_runs_in_browser(lab, page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = Path(name).stem
    # reset: start from an empty workspace, not the tabs an earlier test left.
    page.goto(f"{lab.base_url}/lab/tree/{name}?reset&token={TOKEN}")
    page.get_by_text(re.compile(r"\| Idle")).wait_for(timeout=RUN_TIMEOUT_MS)
    dismiss_news_prompt(page)

    restart_and_run_all(page)
    page.screenshot(path=ARTIFACTS / f"{stem}-run.png")
    notebook = saved_notebook(lab, page, name)
    assert error_outputs(notebook) == []

    dashboards = page.locator(f"{VISIBLE_NOTEBOOK} .course-dashboard")
    assert dashboards.count() == count_dashboard_outputs(notebook)
    for index in range(dashboards.count()):
        dashboard = dashboards.nth(index)
        dashboard.scroll_into_view_if_needed()
        before, after = move_a_slider(page, dashboard)
        assert after != before
        assert not after.startswith("error:"), after
        dashboard.screenshot(path=ARTIFACTS / f"{stem}-dashboard-{index}.png")
