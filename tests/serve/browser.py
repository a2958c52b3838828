"""Headless Chromium for the web app's tests: Debian's /usr/bin/chromium driven by
Playwright, a page that records console errors, screenshots under test-output/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("QBT_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("QBT_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output"))
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]


def chromium_or_skip() -> str:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))


@dataclass
class Watched:
    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / "screenshots" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def watched_page(launched: Any, **context_options: Any) -> Iterator[Watched]:
    context = launched.new_context(viewport={"width": 1440, "height": 900}, locale="ko-KR",
                                   accept_downloads=True, **context_options)
    page = context.new_page()
    watched = Watched(page)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(str(e)))

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield watched
    finally:
        context.close()


def charts_drawn(page: Any, selector: str = ".chart") -> list[dict[str, Any]]:
    """Each chart container: whether ECharts drew it (an instance with series) into a canvas
    of non-zero size with painted pixels."""
    return page.eval_on_selector_all(selector, """els => els.map(el => {
        const chart = window.echarts.getInstanceByDom(el);
        const canvas = el.querySelector('canvas');
        let painted = 0;
        if (canvas && canvas.width && canvas.height) {
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 3; i < data.length; i += 4 * 97) if (data[i] > 0) painted++;
        }
        return { id: el.id, instance: !!chart, series: chart ? chart.getOption().series.length : 0,
                 width: canvas ? canvas.width : 0, painted };
    })""")
