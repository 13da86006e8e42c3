"""The built site in a real browser: headless Chromium (Debian's package) through Playwright.

It serves ``_build/html`` on loopback and opens every page at phone width (390 px), at a small
laptop's 1024 px (the header links have the least room there) and at 1280 px, in light and in
dark mode, checking that nothing scrolls sideways, that the header
keeps to one row, that every image loaded, that the console shows no errors and no request
failed, that no sidebar is shown empty, and that each table or code block wider than its box
says so. It also checks that the landing page's grid cards render and navigate, that search
hits are titled pages, and that dark mode switches. It skips, saying why, only where Chromium
is not installed; CI installs it (.ci/run).
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
WIDTHS = (390, 1024, 1280)
MODES = ("light", "dark")

pytestmark = pytest.mark.browser

# Everything the layout checks measure, in one round trip per page.
LAYOUT = """() => {
  const visible = (el) => { const s = getComputedStyle(el), r = el.getBoundingClientRect();
                            return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0; };
  const header = document.querySelector('.bd-header');
  const box = header.getBoundingClientRect(), middle = box.top + box.height / 2;
  const items = [...header.querySelectorAll('.navbar-item, .pst-navbar-icon, .navbar-persistent--mobile')].filter(visible);
  const offRow = items.filter((el) => { const r = el.getBoundingClientRect(); return r.top > middle || r.bottom < middle; })
                      .map((el) => (el.className || el.tagName) + ' at ' + Math.round(el.getBoundingClientRect().top));
  const offScreen = items.filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                         .map((el) => el.className || el.tagName);
  const sidebar = document.querySelector('.bd-sidebar-primary');
  const sidebarShown = sidebar && visible(sidebar) && getComputedStyle(sidebar).position !== 'fixed';
  const images = [...document.images].filter((img) => !img.complete || img.naturalWidth === 0).map((img) => img.src);
  const uncued = [...document.querySelectorAll('.bd-article .pst-scrollable-table-container, .bd-article div.highlight pre')]
    .filter((el) => el.scrollWidth > el.clientWidth + 1 && !el.closest('.scroll-frame.scrolls'))
    .map((el) => el.tagName + ': ' + el.textContent.trim().slice(0, 40));
  return {
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    theme: document.documentElement.dataset.theme,
    offRow, offScreen, images, uncued,
    emptySidebar: Boolean(sidebarShown) && sidebar.querySelectorAll('nav a').length === 0,
  };
}"""


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


def watch(page) -> list[str]:
    """Collect the console errors, page errors and failed requests of a page, as they happen."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # ERR_ABORTED: a request the browser dropped because the test moved on to the next page.
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})")
            if r.url.startswith("http://127.0.0.1") and r.failure != "net::ERR_ABORTED" else None)
    page.on("response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
    return problems


def open_page(browser, url: str):
    page = browser.new_page()
    problems = watch(page)
    page.goto(url, wait_until="load")
    return page, problems


def layout_problems(found: dict, mode: str) -> list[str]:
    """What the LAYOUT measurements of one page say is wrong with it."""
    problems = []
    if found["overflow"] > 0:
        problems.append(f"the page scrolls sideways by {found['overflow']} px")
    if found["offRow"]:
        problems.append(f"the header wraps: {found['offRow']}")
    if found["offScreen"]:
        problems.append(f"header items off screen: {found['offScreen']}")
    if found["images"]:
        problems.append(f"images not loaded: {found['images']}")
    if found["uncued"]:
        problems.append(f"wider than their box with no scroll cue: {found['uncued']}")
    if found["emptySidebar"]:
        problems.append("an empty section sidebar")
    if found["theme"] != mode:
        problems.append(f"theme is {found['theme']}, not {mode}")
    return problems


def test_layout_list_is_the_site():
    names = site_pages()
    assert "index.html" in names and len(names) > 20, names
    assert not [n for n in names if n.startswith("_generated/")], "generated fragments were built as pages"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("mode", MODES)
def test_every_page_at_every_width_and_mode(browser, site_url, width, mode):
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=mode)
    context.add_init_script(f"localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}');")
    page = context.new_page()
    problems = watch(page)
    failures = []
    for name in site_pages():
        problems.clear()
        page.goto(f"{site_url}/{name}", wait_until="load")
        found = layout_problems(page.evaluate(LAYOUT), mode) + problems
        if found:
            failures.append(f"{name} at {width} px, {mode}: {found}")
    context.close()
    assert not failures, "\n".join(failures)


def test_layout_check_catches_a_wrapped_header_and_overflow(browser, site_url):
    """The checks above can fail: a header squeezed onto two rows and a too-wide block are seen."""
    page, _ = open_page(browser, f"{site_url}/index.html")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.add_style_tag(content=".bd-header .bd-header__inner { flex-wrap: wrap; } "
                               ".bd-header .navbar-header-items { flex-basis: 100%; }")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<div style=\"width: 3000px; height: 1px\"></div>')")
    found = layout_problems(page.evaluate(LAYOUT), page.locator("html").get_attribute("data-theme"))
    assert any("header wraps" in p for p in found), found
    assert any("scrolls sideways" in p for p in found), found
    page.close()


def test_landing_cards_render_and_navigate(browser, site_url):
    page, problems = open_page(browser, f"{site_url}/training-integration/index.html")
    cards = page.locator(".sd-card")
    assert cards.count() >= 6
    titles = page.locator(".sd-card").all_inner_texts()
    for name in ("NeMo RL", "VeRL", "OpenRLHF", "TRL", "Custom Frameworks", "Framework Comparison"):
        assert any(name in t for t in titles), f"no card for {name}"
    badges = page.locator(".sd-card .sd-badge").all_inner_texts()
    assert len(badges) >= 12
    repeated = {b for b in badges if badges.count(b) > 1 and b not in ("SFT", "DPO", "GRPO", "KTO", "PPO")}
    assert not repeated, f"badges that say nothing about the card they are on: {repeated}"
    page.locator(".sd-card", has_text="VeRL").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/training-integration/verl.html"), page.url
    assert "VeRL" in page.locator("h1").first.inner_text()
    assert not problems


@pytest.mark.parametrize("query", ["parquet", "rollouts", "reward", "manifest"])
def test_search_hits_are_titled_pages(browser, site_url, query):
    page, problems = open_page(browser, f"{site_url}/search.html?q={query}")
    page.wait_for_selector("#search-results li", timeout=15000)
    page.wait_for_function("() => /found/i.test(document.querySelector('#search-results .search-summary')?.textContent || '')",
                           timeout=15000)
    hits = page.locator("#search-results li > a").evaluate_all("els => els.map(a => [a.textContent.trim(), a.href])")
    assert hits, f"no hits for {query}"
    untitled = [href for title, href in hits if not title or title == "<no title>"]
    assert not untitled, f"untitled hits for {query}: {untitled}"
    fragments = [href for _, href in hits if "/_generated/" in href]
    assert not fragments, f"hits on generated fragments for {query}: {fragments}"
    if query == "parquet":
        assert any("VeRL" in title for title, _ in hits), hits
    page.close()
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
