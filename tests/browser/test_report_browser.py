"""The HTML report in a real headless Chromium: it loads with no console errors, fetches
nothing, draws one timeline bar per task that ran, and a screenshot shows it.

The screenshot is kept in the test's tmp directory and copied to SCREENSHOT.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from browser.conftest import make_demo_run
from orchestrator.report.html import write_report

pytestmark = pytest.mark.browser
SCREENSHOT = Path("/tmp/orch-report-screenshot.png")


def _errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_report_in_headless_chromium(browser, tmp_path):
    from selenium.webdriver.common.by import By

    run, ran = make_demo_run(tmp_path / "run")
    report, _ = write_report(run)
    browser.get(report.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.title.startswith("demo on laptop: failed")
    assert _errors(browser) == []
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').length") == 0  # fetched nothing

    svg = browser.find_element(By.ID, "timeline-svg")
    assert svg.is_displayed() and svg.size["width"] > 600 and svg.size["height"] > 60
    bars = svg.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert sorted(b.get_attribute("data-task") for b in bars) == sorted(ran)
    drawn = [b for b in bars if b.size["width"] > 0 and b.size["height"] > 0]
    assert len(drawn) == len(ran)
    assert {s.get_attribute("id") for s in browser.find_elements(By.TAG_NAME, "section")} == {
        "summary", "timeline", "dag", "metrics", "failures", "provenance"}
    assert len(browser.find_elements(By.CSS_SELECTOR, "#dag-svg g.node")) == 6
    assert browser.find_elements(By.CSS_SELECTOR, "#metrics svg.chart")
    failure = browser.find_element(By.CSS_SELECTOR, "#failures .failure pre.error")
    assert failure.text == "RuntimeError: solver diverged <at step 12>"  # escaped, shown as is

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(int(height) + 40, 12000))
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    shutil.copyfile(shot, SCREENSHOT)
    assert _errors(browser) == []


def test_console_errors_are_seen(browser, tmp_path):
    """The check above could pass vacuously; a page that breaks its own CSP must show up."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
                    "content=\"default-src 'none'\"><title>bad</title></head><body>"
                    '<img src="http://192.0.2.1/x.png"><script>undefinedFunction()</script>'
                    "</body></html>")
    browser.get(page.as_uri())
    errors = _errors(browser)
    assert errors and any("Content Security Policy" in e["message"] for e in errors), errors
