"""The planners' BI app (bi/app.py, Streamlit) served over the small demo's published copy
on 127.0.0.1 and opened in headless Chromium (test_report's DevTools-over-a-pipe driver):
every page draws its charts and tables, the drill-down plant -> product group -> product
reaches a series' chart with its intervals, the console holds no error and no request
leaves the machine. The screenshots go to the test's own folder; with DEMANDCAST_SCREENSHOTS
set to a folder (`DEMANDCAST_SCREENSHOTS=docs/img`, the README's pictures), there: a test
run never changes a tracked file."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import BIN, ROOT
from test_report import Chromium, _chromium

# Streamlit's frontend, opened on a page's own address (/plants), first looks for its
# server under that folder (/plants/_stcore/health, 404), then at the root: not an error
_BASE_PROBE = re.compile(
    r"status of 404 .*'url': 'http://127\.0\.0\.1:\d+/\w+/_stcore/(health|host-config)'"
)

# what the page shows once Streamlit has run it: charts drawn, tables, status, text
_SEEN = """(() => {
  const drawn = [...document.querySelectorAll('[data-testid="stVegaLiteChart"] canvas,'
                                           + '[data-testid="stVegaLiteChart"] svg')]
    .filter(c => c.getBoundingClientRect().width > 100 && c.getBoundingClientRect().height > 100);
  return {charts: drawn.length,
          tables: document.querySelectorAll('[data-testid="stDataFrame"]').length,
          running: !!document.querySelector('[data-testid="stStatusWidget"]'),
          errors: document.querySelectorAll('[data-testid="stException"], .stException').length,
          text: document.querySelector('[data-testid="stMain"]')?.innerText ?? '',
          height:
            document.querySelector('[data-testid="stMainBlockContainer"]')?.scrollHeight ?? 0};
})()"""


@pytest.fixture(scope="module")
def app(built):
    """`streamlit run bi/app.py` over the published copy, on a free local port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(BIN / "streamlit"), "run", str(ROOT / "bi" / "app.py"), "--server.port", str(port),
         "--", "--db", str(built.published)],
        cwd=ROOT / "bi", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=5)
            break
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the app did not start in 120 s"
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def chromium():
    exe = _chromium()
    assert exe, "chromium is not installed: `make browser` installs Debian's package"
    browser = Chromium(exe, width=1400, height=2000)  # tall: Streamlit scrolls inside
    yield browser
    browser.close()


def _open(browser: Chromium, url: str, charts: int, tables: int, timeout: float = 120) -> dict:
    """Open `url` and wait until Streamlit has run the page: `charts` charts drawn and
    `tables` tables shown, nothing running."""
    browser.events.clear()
    browser.send("Page.navigate", {"url": url}, session=True)
    browser.wait_for("Page.loadEventFired", timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        seen = browser.js(_SEEN)
        done = seen["charts"] >= charts and seen["tables"] >= tables and not seen["running"]
        if done or seen["errors"]:
            time.sleep(1)  # the last chart's paint
            return browser.js(_SEEN)
        assert time.monotonic() < deadline, f"{url}: {seen}"
        time.sleep(0.5)


def _shot(browser: Chromium, path: Path, height: int) -> None:
    clip = {"x": 0, "y": 0, "width": 1400, "height": max(900, min(height + 100, 2000)), "scale": 1}
    shot = browser.send("Page.captureScreenshot", {"format": "png", "clip": clip}, session=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def test_pages_draw_offline_with_no_error(app, built, chromium, tmp_path):
    shots = Path(os.environ.get("DEMANDCAST_SCREENSHOTS") or tmp_path).resolve()
    run_id, n_series = built.query(
        "select (select run_id from publication), (select count(*) from dim_series)",
        built.published,
    )[0]
    plant, group, product = built.query(
        "select plant_id, coalesce(product_group, 'none'), product_id from dim_series "
        "where lifecycle = 'active' order by total_demand desc limit 1",
        built.published,
    )[0]
    drill = {"plant": plant, "group": group, "product": product}
    pages = [  # name, address, charts, tables
        ("overview", "/", 0, 2),
        ("exceptions", "/exceptions", 0, 5),
        ("accuracy", "/accuracy", 0, 0),
        ("plant", "/plants?" + urlencode({"plant": plant}), 1, 1),
        ("group", "/plants?" + urlencode({"plant": plant, "group": group}), 1, 1),
        ("product", "/plants?" + urlencode(drill), 1, 2),
    ]
    shots.mkdir(parents=True, exist_ok=True)
    for name, path, charts, tables in pages:
        seen = _open(chromium, app + path, charts, tables)
        assert seen["errors"] == 0, f"{path}: {seen['text'][:2000]}"
        errors = [e for e in chromium.errors() if not _BASE_PROBE.search(e)]
        assert errors == [], f"{path}: {errors[:3]}"
        local = (app, app.replace("http:", "ws:"), "data:", "blob:")
        away = [u for u in chromium.requests() if not u.startswith(local)]
        assert not away, f"{path}: requests left the machine: {away[:5]}"
        assert seen["charts"] >= charts and seen["tables"] >= tables, f"{path}: {seen}"
        _shot(chromium, shots / f"bi-{name}.png", seen["height"])
        assert (shots / f"bi-{name}.png").stat().st_size > 0
        if name == "overview":  # the run of the copy the app reads, and what needs a look
            assert run_id in seen["text"] and "Needs attention" in seen["text"]
        if name == "product":  # the drill-down ends on the series' own chart and forecast
            assert product in seen["text"] and "80 % band" in seen["text"]
    assert n_series > 0
