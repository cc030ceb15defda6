"""The operator's dashboard in Chromium: the pool chart, approving a draft bid, the
assets and the failed commands."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.conftest import (
    WAIT_S,
    XSS_NAME,
    Park,
    console_errors,
    foreign_resources,
    log_in,
    screenshot,
    wait,
)

pytestmark = pytest.mark.browser

POINTS_JS = """
return Array.from(document.querySelectorAll(arguments[0])).reduce(
  (n, line) => n + line.points.numberOfItems, 0);
"""


def test_the_pool_chart_has_points_units_and_its_numbers(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.operator)
    # The baseline line over today and tomorrow, then the summed P10-P90 band.
    wait(browser, "#flexibility .s-baseline polyline")
    wait(browser, "#flexibility .s-p1090 polygon")

    points = browser.execute_script(POINTS_JS, "#flexibility .s-baseline polyline")
    assert points == 2 * 96
    assert browser.find_elements(By.CSS_SELECTOR, "#flexibility .s-guaranteed polygon")
    titles = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#flexibility .axis-title")]
    assert titles == ["Beijing time (UTC+8)", "Net load, kW"]
    csv = browser.find_element(By.CSS_SELECTOR, "#flexibility .numbers-bar button")
    assert csv.text == "CSV (192 rows)"
    # The numbers behind the chart, with Beijing times and their offset.
    browser.find_element(By.CSS_SELECTOR, "#flexibility details summary").click()
    first = browser.find_element(By.CSS_SELECTOR, "#flexibility details tbody tr td").text
    assert first == f"{park.today} 00:00 UTC+8"

    assert foreign_resources(browser, park.base_url) == []
    screenshot(browser, "operator-pool")
    assert console_errors(browser) == []


def test_approving_a_draft_bid_changes_its_state(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.operator)
    bid_id = park.drafts["peak_shaving.peak_cut"]
    button = wait(browser, f"#bids button.approve[data-bid='{bid_id}']")[0]
    row = button.find_element(By.XPATH, "./ancestor::tr")
    assert row.find_element(By.CSS_SELECTOR, "[data-state]").get_attribute("data-state") == "draft"
    button.click()

    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_elements(
            By.XPATH,
            f"//button[contains(@class, 'ladder') and @data-bid='{bid_id}']"
            "/ancestor::tr//*[@data-state='approved']",
        )
    )
    assert not browser.find_elements(By.CSS_SELECTOR, f"#bids button.approve[data-bid='{bid_id}']")
    stored = httpx.get(
        f"{park.base_url}/v1/bids/{bid_id}",
        headers={"Authorization": f"Bearer {park.operator}"},
    ).json()
    assert stored["state"] == "approved"

    # Its ladder: offered kW per interval as bars, the steps as a table.
    browser.find_element(By.CSS_SELECTOR, f"#bids button.ladder[data-bid='{bid_id}']").click()
    wait(browser, "#bids .ladder-box .time-chart")
    assert (
        "Ladder: peak_shaving.peak_cut"
        in browser.find_element(By.CSS_SELECTOR, "#bids .ladder-box h3").text
    )
    screenshot(browser, "operator-bid-approved")
    assert console_errors(browser) == []


def test_assets_by_kind_awards_and_failed_commands(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.operator)
    wait(browser, "#assets .kind")
    kinds = [
        k.get_attribute("data-kind")
        for k in browser.find_elements(By.CSS_SELECTOR, "#assets .kind")
    ]
    assert kinds == ["battery", "curtailable_load", "pv", "shiftable_process"]
    battery = browser.find_element(By.CSS_SELECTOR, "#assets .kind[data-kind='battery'] tbody tr")
    cells = [td.text for td in battery.find_elements(By.TAG_NAME, "td")]
    assert cells[0] == "Mill battery"
    assert cells[3].endswith("UTC+8")  # last reading
    assert cells[5] == "50"  # state of charge, %
    assert cells[-1].endswith("· -250 kW acked")  # the newest of its commands
    # The markup-like name is listed as text.
    names = [
        td.text for td in browser.find_elements(By.CSS_SELECTOR, "#assets tbody tr td:first-child")
    ]
    assert XSS_NAME in names

    expired = wait(browser, "#failures tbody tr")
    assert len(expired) == 1
    cells = [td.text for td in expired[0].find_elements(By.TAG_NAME, "td")]
    assert (cells[1], cells[4]) == ("Mill battery", "expired")

    bars = wait(browser, "#awards .s-down rect")
    assert len(bars) == 8
    screenshot(browser, "operator-assets")
    assert console_errors(browser) == []
