"""The live training panel in a real JupyterLab, driven by a real (headless) Chromium.

Like a person: run a cell that trains a tiny model, watch the bar and the charts change,
run another cell while it trains, press Stop, save, reload, and still see the curves.
A screenshot of each stage goes to ``MODEL_TRAINER_E2E_ARTIFACTS`` (default: the test's
``tmp_path/screens``).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .lab import (
    ARTIFACTS_ENV,
    CHROMIUM_ARGS,
    CHROMIUM_ENV,
    KERNEL_DISPLAY_NAME,
    Lab,
    ServerLog,
    chromium_path,
    missing_reason,
    output_types,
    read_notebook,
    running_lab,
    write_kernelspec,
    write_notebook,
)

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = chromium_path(os.environ)
MISSING = missing_reason(CHROMIUM, "playwright")

# The kernel runs the interpreter that has model_trainer installed, or this cell fails.
SETUP_CELL = "import model_trainer as mt\n\nmt.__name__"
# Half a minute or more of training on one CPU thread, stopped after about ten seconds:
# time to see frames, run a cell and press Stop before it ends by itself. Short epochs:
# the panel draws every epoch, and between epochs only as often as its drawing budget allows.
TRAIN_CELL = """job = mt.train(
    model_family="fake",
    model_size="tiny",
    corpus_path="builtin:python-docs",
    num_epochs=30,
    max_steps_per_epoch=200,
    max_seq_len=32,
    batch_size=8,
    runs_dir="runs",
)"""
FREE_CELL = "1 + 1"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
BLOB = re.compile(r"^blob:")
WAIT_MS = 120_000
"""How long each step waits for what the page should show. On a 2-core machine busy with
other work, a kernel start, a cell or a chart frame can take tens of seconds; a step that
sees its sign earlier goes on at once."""


def test_missing_reason_names_what_is_absent(tmp_path: Path) -> None:
    browser = tmp_path / "chromium"
    assert missing_reason(browser, "pytest") == f"no Chromium at {browser} (set {CHROMIUM_ENV})"
    browser.write_text("", encoding="utf-8")
    assert missing_reason(browser, "no_such_package") == (
        "the Python package 'no_such_package' is not installed"
    )
    assert missing_reason(browser, "pytest") is None


def test_chromium_path_reads_the_environment() -> None:
    assert chromium_path({}) == Path("/usr/bin/chromium")
    assert chromium_path({CHROMIUM_ENV: "/opt/chrome"}) == Path("/opt/chrome")


def test_server_log_waits_for_its_marker_or_the_end() -> None:
    log = ServerLog(io.StringIO("starting\nrunning at http://x/lab\nbye\n"), marker="/lab")
    assert log.wait_listening(5.0)
    assert log.join(5.0)
    assert log.text() == "starting\nrunning at http://x/lab\nbye\n"
    dead = ServerLog(io.StringIO("failed to start\n"), marker="/lab")
    assert not dead.wait_listening(5.0)
    assert dead.join(5.0)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    home = tmp_path / "jupyter"
    kernel = write_kernelspec(home / "data")
    cells = [SETUP_CELL, TRAIN_CELL, FREE_CELL]
    write_notebook(tmp_path / "panel.ipynb", cells, kernel=kernel)
    with running_lab(root=tmp_path, home=home, environ=os.environ) as server:
        yield server


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=CHROMIUM,
            args=list(CHROMIUM_ARGS),
            headless=True,
            viewport={"width": 1280, "height": 1500},
        )
        with context:
            page = context.pages[0]
            page.set_default_timeout(WAIT_MS)
            yield page


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    """Every ``expect`` waits up to ``WAIT_MS`` for what it looks for (playwright: 5 s)."""
    if MISSING is not None:
        yield
        return
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    yield
    expect.set_options(timeout=None)


def _shot(page: Page, folder: Path, name: str, target: Locator) -> None:
    target.scroll_into_view_if_needed()
    page.screenshot(path=folder / name)


@pytest.mark.skipif(MISSING is not None, reason=f"browser test skipped: {MISSING}")
def test_panel_trains_stops_and_leaves_static_curves(lab: Lab, page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    screens = Path(os.environ.get(ARTIFACTS_ENV, str(tmp_path / "screens")))
    screens.mkdir(parents=True, exist_ok=True)
    page.goto(f"{lab['url']}/lab/tree/panel.ipynb?token={lab['token']}")
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    expect(cells).to_have_count(3)
    # The status bar names the kernel and says Idle only once the kernel is connected.
    kernel_idle = page.get_by_role("button", name=f"{KERNEL_DISPLAY_NAME} | Idle")
    expect(kernel_idle).to_be_visible()

    # Shift+Enter twice: the set-up cell, then the training cell.
    cells.nth(0).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    expect(cells.nth(0).locator(".jp-OutputArea-output")).to_have_text("'model_trainer'")

    panel = cells.nth(1).locator(".widget-vbox")
    image = panel.locator("img.widget-image")
    bar = panel.locator(".widget-hprogress .progress-bar")
    progress = panel.locator(".widget-label", has_text="step")
    status = panel.locator(".widget-html-content", has_text="status:")
    stop = panel.get_by_role("button", name="Stop")
    expect(status).to_contain_text("running")
    expect(progress).to_be_visible()
    expect(image).to_have_attribute("src", BLOB)
    first_src = image.get_attribute("src")
    first_bar = bar.get_attribute("style")
    _shot(page, screens, "01-panel-live.png", image)

    # A later frame: a new chart image and a longer bar.
    expect(image).not_to_have_attribute("src", str(first_src))
    expect(image).to_have_attribute("src", BLOB)
    expect(bar).not_to_have_attribute("style", str(first_bar))
    expect(stop).to_be_enabled()
    _shot(page, screens, "02-charts-changed.png", image)

    # Under the charts, what the model writes: the newest sample, then a newer one.
    sample = panel.locator(".mt-sample-text")
    expect(panel).to_contain_text("probe surprisal")
    first_sample = sample.inner_text()
    expect(sample).not_to_have_text(first_sample)
    _shot(page, screens, "11-panel-sample-probe.png", sample)

    # The kernel is free while the run trains on its thread.
    cells.nth(2).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    expect(cells.nth(2).locator(".jp-OutputArea-output")).to_have_text("2")
    expect(status).to_contain_text("running")
    expect(stop).to_be_enabled()
    _shot(page, screens, "03-kernel-free.png", cells.nth(2))

    stop.click()
    # The end replaces the panel by a static picture of the curves, with the table under it.
    static_image = cells.nth(1).locator('.jp-OutputArea-output img[src^="data:image/png"]')
    table = cells.nth(1).locator(".jp-RenderedHTML table")
    expect(table).to_contain_text("cancelled")
    expect(static_image).to_be_visible()
    expect(panel).to_have_count(0)
    _shot(page, screens, "04-stopped.png", table)

    # Save, shut the kernel down (no live widgets to restore), reload.
    dirty_tab = page.locator(".lm-TabBar-tab.jp-mod-dirty")
    expect(dirty_tab).to_have_count(1)
    page.locator("[data-command='docmanager:save']").click()
    expect(dirty_tab).to_have_count(0)
    saved = read_notebook(tmp_path / "panel.ipynb")
    assert "widgets" not in saved["metadata"]
    saved_types = output_types(saved["cells"][1])
    assert {"image/png", "text/html"} <= saved_types
    assert WIDGET_VIEW not in saved_types
    auth = {"Authorization": f"token {lab['token']}"}
    listing = page.request.get(f"{lab['url']}/api/sessions", headers=auth)
    sessions: list[dict[str, object]] = listing.json()
    for session in sessions:
        gone = page.request.delete(f"{lab['url']}/api/sessions/{session['id']}", headers=auth)
        assert gone.status == 204, gone.text()

    page.reload()
    expect(cells).to_have_count(3)
    expect(kernel_idle).to_be_visible()
    expect(static_image).to_be_visible()
    expect(table).to_contain_text("cancelled")
    expect(page.locator("img.widget-image")).to_have_count(0)
    expect(cells.nth(1)).not_to_contain_text("Error displaying widget")
    _shot(page, screens, "05-reloaded.png", static_image)


# Two trials: the first short, the second long enough to be stopped while it trains.
SWEEP_CELL = """sweep_job = mt.sweep(
    {
        "model_family": "fake",
        "model_size": "tiny",
        "max_steps_per_epoch": 100,
        "max_seq_len": 32,
        "batch_size": 8,
    },
    {"num_epochs": [2, 40]},
    sweep_id="e2e",
    runs_dir="runs",
)"""
RESULT_CELL = "[t['state'] for t in sweep_job.result()['trials']]"


@pytest.fixture
def sweep_lab(tmp_path: Path) -> Iterator[Lab]:
    home = tmp_path / "jupyter"
    kernel = write_kernelspec(home / "data")
    write_notebook(tmp_path / "sweep.ipynb", [SETUP_CELL, SWEEP_CELL, RESULT_CELL], kernel=kernel)
    with running_lab(root=tmp_path, home=home, environ=os.environ) as server:
        yield server


@pytest.mark.skipif(MISSING is not None, reason=f"browser test skipped: {MISSING}")
def test_sweep_view_draws_both_trials_and_stop_ends_the_sweep(
    sweep_lab: Lab, page: Page, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    screens = Path(os.environ.get(ARTIFACTS_ENV, str(tmp_path / "screens")))
    screens.mkdir(parents=True, exist_ok=True)
    page.goto(f"{sweep_lab['url']}/lab/tree/sweep.ipynb?token={sweep_lab['token']}")
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    expect(cells).to_have_count(3)
    kernel_idle = page.get_by_role("button", name=f"{KERNEL_DISPLAY_NAME} | Idle")
    expect(kernel_idle).to_be_visible()
    cells.nth(0).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")

    view = cells.nth(1).locator(".widget-vbox")
    image = view.locator("img.widget-image")
    table = view.locator(".widget-html-content table")
    stop = view.get_by_role("button")
    # Both trials have a best value in the table: both curves are on the one chart.
    expect(table).to_contain_text(re.compile(r"e2e-t00.*\d\.\d{4}", re.S))
    expect(table).to_contain_text(re.compile(r"e2e-t01.*\d\.\d{4}", re.S))
    expect(image).to_have_attribute("src", BLOB)
    expect(stop).to_have_text("Stop sweep")
    expect(stop).to_be_enabled()
    _shot(page, screens, "sweep-01-two-trials.png", image)

    stop.click()
    # The end replaces the live view by the final chart and table: plain outputs.
    static_image = cells.nth(1).locator('.jp-OutputArea-output img[src^="data:image/png"]')
    final = cells.nth(1).locator(".jp-RenderedHTML", has_text="sweep e2e")
    expect(final).to_contain_text("sweep e2e: stopped")
    expect(final.locator("table")).to_contain_text("e2e-t00")
    expect(static_image).to_be_visible()
    expect(view).to_have_count(0)
    cells.nth(2).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    expect(cells.nth(2).locator(".jp-OutputArea-output")).to_have_text("['completed', 'stopped']")
    _shot(page, screens, "sweep-02-stopped.png", final)

    # Saved, the notebook holds the chart and the table, not a widget reference.
    dirty_tab = page.locator(".lm-TabBar-tab.jp-mod-dirty")
    expect(dirty_tab).to_have_count(1)
    page.locator("[data-command='docmanager:save']").click()
    expect(dirty_tab).to_have_count(0)
    saved = read_notebook(tmp_path / "sweep.ipynb")
    assert "widgets" not in saved["metadata"]
    saved_types = output_types(saved["cells"][1])
    assert {"image/png", "text/html"} <= saved_types
    assert WIDGET_VIEW not in saved_types
