"""The grid company's and the administrator's dashboards in Chromium: awards, the pool's
schedules (day-ahead against current) and the instruction history."""

from __future__ import annotations

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from tests.web.conftest import (
    INSTRUCTED_INTERVALS,
    INSTRUCTED_KW,
    Park,
    console_errors,
    log_in,
    screenshot,
    wait,
)

pytestmark = pytest.mark.browser


def test_the_grid_sees_awards_per_product_and_interval(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.grid)
    assert browser.find_element(By.CSS_SELECTOR, "#who .account").text == "Gansu grid dispatch"
    bars = wait(browser, "#awards .product[data-product='peak_shaving.peak_cut'] rect")
    assert len(bars) == 8
    browser.find_element(By.CSS_SELECTOR, "#awards details summary").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#awards details tbody tr")
    first = [td.text for td in rows[0].find_elements(By.TAG_NAME, "td")]
    assert first[:2] == ["72", f"{park.today} 18:00 UTC+8"]
    assert len(rows) == 8
    products = [
        r.text for r in browser.find_elements(By.CSS_SELECTOR, "#markets tbody td:first-child")
    ]
    assert "peak_shaving.peak_cut" in products

    screenshot(browser, "grid-awards")
    assert console_errors(browser) == []


def test_the_admin_sees_the_markets(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.admin)
    wait(browser, "#markets tbody tr")
    assert browser.find_element(By.CSS_SELECTOR, "[data-role]").text == "Administrator"
    assert browser.find_element(By.CSS_SELECTOR, "#who .account").text == "Park admin"
    screenshot(browser, "admin")
    assert console_errors(browser) == []


POINTS_JS = """
return Array.from(document.querySelectorAll(arguments[0])).reduce(
  (n, line) => n + line.points.numberOfItems, 0);
"""


def test_the_grid_sees_the_schedules_and_its_instructions(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.grid)
    versions = [li.text for li in wait(browser, "#schedules .versions li")]
    assert versions[0].startswith("Day-ahead: version 1, published ")
    assert versions[0].endswith("(day-ahead plan).")
    assert versions[1].startswith("Current: version 2, published ")
    assert versions[1].endswith("(instruction web-ins-1).")
    # Net load: baseline and planned now and as planned day-ahead, 96 points each.
    for series in ("s-baseline", "s-planned", "s-dayahead"):
        points = browser.execute_script(
            POINTS_JS, f"#schedules figure.chart > .chart-box .{series} polyline"
        )
        assert points == 96, series
    product = "#schedules .product[data-product='peak_shaving.peak_cut']"
    for series in ("s-awarded-kw", "s-target", "s-planned", "s-dayahead"):
        assert browser.execute_script(POINTS_JS, f"{product} .{series} polyline") == 96, series
    titles = [t.text for t in browser.find_elements(By.CSS_SELECTOR, f"{product} .axis-title")]
    assert titles == ["Beijing time (UTC+8)", "Power in the product's direction, kW"]
    # The numbers: 96 intervals; the instruction's four differ from the day-ahead targets.
    assert browser.find_element(By.CSS_SELECTOR, "#schedules .numbers-bar button").text == (
        "CSV (96 rows)"
    )
    browser.find_element(By.CSS_SELECTOR, "#schedules details summary").click()
    changed = browser.find_elements(By.CSS_SELECTOR, "#schedules details tbody tr.changed")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in changed]
    assert [c[0] for c in cells] == [str(k) for k in INSTRUCTED_INTERVALS]
    # Awarded, day-ahead target, current target for interval 76: 1500 + 10 * 76 kW.
    assert cells[0][6:9] == ["2,260", "2,260", f"{INSTRUCTED_KW:,.0f}"]

    rows = wait(browser, "#instructions tbody tr")
    answers = [
        r.find_element(By.CSS_SELECTOR, "[data-status]").get_attribute("data-status") for r in rows
    ]
    assert answers == ["rejected", "accepted"]

    screenshot(browser, "grid-schedules")
    assert console_errors(browser) == []
