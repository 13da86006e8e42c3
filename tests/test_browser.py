"""The built site in a real browser: headless Chromium (Debian's package) through Playwright.

It serves ``_build/html`` on loopback and checks that every page loads without console
errors or failed requests, that the landing page's grid cards render and navigate, that
search finds things, and that dark mode switches. It skips, saying why, only where
Chromium is not installed; CI installs it (.ci/run).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        pytest.fail("no built site in _build/html: run `make docs` first (make test does)")
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def site_pages() -> list[str]:
    return sorted(
        p.relative_to(SITE).as_posix()
        for p in SITE.rglob("*.html")
        if p.name not in ("search.html", "genindex.html", "py-modindex.html") and "_static" not in p.parts
    )


def open_page(browser, url: str):
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}")
            if r.url.startswith("http://127.0.0.1") else None)
    page.on("response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    return page, problems


def test_every_page_loads_cleanly(browser, site_url):
    names = site_pages()
    assert len(names) > 5, names
    failures = []
    for name in names:
        page, problems = open_page(browser, f"{site_url}/{name}")
        page.wait_for_load_state("networkidle")
        if problems:
            failures.append(f"{name}: {problems}")
        page.close()
    assert not failures, "\n".join(failures)


def test_landing_cards_render_and_navigate(browser, site_url):
    page, problems = open_page(browser, f"{site_url}/training-integration/index.html")
    cards = page.locator(".sd-card")
    assert cards.count() >= 6
    titles = page.locator(".sd-card").all_inner_texts()
    for name in ("NeMo RL", "VeRL", "OpenRLHF", "TRL", "Custom Frameworks", "Framework Comparison"):
        assert any(name in t for t in titles), f"no card for {name}"
    assert page.locator(".sd-card .sd-badge").count() >= 12
    page.locator(".sd-card", has_text="VeRL").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/training-integration/verl.html"), page.url
    assert "VeRL" in page.locator("h1").first.inner_text()
    assert not problems


def test_search_finds_pages(browser, site_url):
    page, problems = open_page(browser, f"{site_url}/search.html?q=parquet")
    page.wait_for_selector("#search-results li", timeout=15000)
    results = page.locator("#search-results li").all_inner_texts()
    assert results and any("VeRL" in r or "parquet" in r.lower() for r in results), results
    assert not problems


def test_dark_mode_switches(browser, site_url):
    page, problems = open_page(browser, f"{site_url}/index.html")
    html = page.locator("html")
    for mode in ("dark", "light", "dark"):
        page.locator("button.theme-switch-button").first.click()
        page.locator(f"button.theme-change-button[data-mode={mode}]").first.click()
        assert html.get_attribute("data-theme") == mode
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)", "dark mode did not change the page"
    page.reload()
    assert html.get_attribute("data-theme") == "dark", "the choice did not persist"
    assert not problems
