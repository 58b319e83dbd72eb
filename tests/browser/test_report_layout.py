"""The report fits the window: at 1280 and 800 px the stage graph of a long, wide
workflow is whole on screen, its names fit their boxes, it is not shrunk past reading,
and nothing gives the page a horizontal scrollbar (tables scroll in their own box).
"""

from __future__ import annotations

import pytest

from browser.conftest import make_demo_run, make_wide_run
from orchestrator.report.html import write_report

pytestmark = pytest.mark.browser
WIDTHS = (1280, 800)
MEASURE = """
const doc = document.documentElement, svg = document.getElementById('dag-svg');
const box = svg.getBoundingClientRect();
const nodes = [...svg.querySelectorAll('g.node')];
const wide = [...document.querySelectorAll('main *')]
  .filter(e => e.getBoundingClientRect().right > doc.clientWidth + 0.5
               && !e.closest('table'))
  .map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className.baseVal === undefined
                         && e.className ? '.' + e.className : ''));
return {inner: window.innerWidth, client: doc.clientWidth, scroll: doc.scrollWidth,
        svg_right: box.right, scale: box.width / svg.viewBox.baseVal.width,
        nodes: nodes.length,
        nodes_right: Math.max(...nodes.map(g => g.getBoundingClientRect().right)),
        names: nodes.map(g => [g.dataset.stage, g.querySelector('text').getComputedTextLength(),
                               g.querySelector('rect').width.baseVal.value]),
        tables_right: Math.max(0, ...[...document.querySelectorAll('table')]
                                  .map(t => t.getBoundingClientRect().right)),
        wide: wide.slice(0, 10)};
"""


def measure(driver, report, width: int) -> dict:
    driver.set_window_size(width, 900)
    driver.get(report.as_uri())
    m = driver.execute_script(MEASURE)
    assert abs(m["inner"] - width) <= 20, m  # the window is the size asked for
    return m


def assert_fits(m: dict) -> None:
    assert m["scroll"] <= m["client"], m  # no horizontal scrollbar on the page
    assert m["wide"] == [], m  # nothing reaches past the right edge
    assert m["tables_right"] <= m["client"], m  # a wide table scrolls inside itself


@pytest.mark.parametrize("width", WIDTHS)
def test_wide_stage_graph_fits_the_window(browser, tmp_path, width):
    report, _ = write_report(make_wide_run(tmp_path / "run"))
    m = measure(browser, report, width)
    assert m["nodes"] == 9 + 9
    assert m["svg_right"] <= m["client"] and m["nodes_right"] <= m["client"], m
    assert m["scale"] >= 0.7, m  # shrunk a little at most: 12 px names stay 8.4 px or more
    for name, text, box in m["names"]:
        assert text <= box - 16, (name, text, box)  # the (shortened) name fits its box
    assert_fits(m)


@pytest.mark.parametrize("width", WIDTHS)
def test_demo_report_has_no_horizontal_scroll(browser, tmp_path, width):
    """Tables, the timeline, charts and error blocks of an ordinary run fit too."""
    run, _ = make_demo_run(tmp_path / "run")
    report, _ = write_report(run)
    m = measure(browser, report, width)
    assert m["svg_right"] <= m["client"], m
    assert_fits(m)
