"""The operator's dashboard in Chromium: the pool chart, approving a draft bid, the
day-ahead plan, the assets and the failed commands."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.web.conftest import (
    AWARDED_INTERVALS,
    SHORTFALL_KW,
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
    # Who is logged in, from /v1/me: the role, the account's name, the service's day.
    assert browser.find_element(By.CSS_SELECTOR, "#who [data-role]").text == "Operator"
    assert browser.find_element(By.CSS_SELECTOR, "#who .account").text == "Park operations"
    assert f"market day {park.today}" in browser.find_element(By.CSS_SELECTOR, "#who").text
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


def test_the_day_ahead_plan_shows_awarded_planned_and_the_shortfall(
    browser: Chrome, park: Park
) -> None:
    log_in(browser, park.base_url, park.operator)
    product = "#plan .product[data-product='peak_shaving.peak_cut']"
    wait(browser, f"{product} .s-planned polyline")

    # Awarded and planned kW over the whole day, one point per 15-minute interval.
    assert browser.execute_script(POINTS_JS, f"{product} .s-awarded-kw polyline") == 96
    assert browser.execute_script(POINTS_JS, f"{product} .s-planned polyline") == 96
    titles = [t.text for t in browser.find_elements(By.CSS_SELECTOR, f"{product} .axis-title")]
    assert titles == ["Beijing time (UTC+8)", "Power, kW"]
    # The shortfall: bars, a sentence with its numbers, highlighted rows.
    assert len(browser.find_elements(By.CSS_SELECTOR, f"{product} .s-shortfall rect")) == len(
        SHORTFALL_KW
    )
    summary = browser.find_element(
        By.CSS_SELECTOR, "#plan .plan-summary .shortfall[data-product='peak_shaving.peak_cut']"
    ).text
    short_kwh = sum(SHORTFALL_KW.values()) / 4
    assert summary.startswith("peak_shaving.peak_cut: short by up to 250 kW")
    assert f"in {len(SHORTFALL_KW)} of {len(AWARDED_INTERVALS)} awarded intervals" in summary
    assert "(19:30–20:00 UTC+8)" in summary
    assert f"{short_kwh:g} kWh" in summary
    assert browser.find_element(By.CSS_SELECTOR, f"{product} .numbers-bar button").text == (
        "CSV (96 rows)"
    )
    browser.find_element(By.CSS_SELECTOR, f"{product} details summary").click()
    short = browser.find_elements(By.CSS_SELECTOR, f"{product} details tbody tr.short")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in short]
    assert [c[:2] for c in cells] == [
        [str(k), f"{park.today} {(k // 4):02d}:{15 * (k % 4):02d} UTC+8"] for k in SHORTFALL_KW
    ]
    assert [c[4] for c in cells] == ["250" for _ in SHORTFALL_KW]

    # Per asset: every asset of the pool, its planned setpoint against its baseline.
    select = Select(browser.find_element(By.CSS_SELECTOR, "#plan .asset-plan select"))
    names = {o.text for o in select.options}
    assert names == {*park.a.asset_names, *park.b.asset_names}
    assert XSS_NAME in names  # as text
    select.select_by_visible_text("Mill battery")
    chart = wait(
        browser, f"#plan .asset-plan-chart[data-asset='{park.a.asset_ids['Mill battery']}']"
    )[0]
    for series in ("s-baseline", "s-setpoint"):
        points = browser.execute_script(POINTS_JS, f"#plan .asset-plan-chart .{series} polyline")
        assert points == 96, series
    assert "Moved from its baseline in 8 of 96 intervals (18:00–20:00 UTC+8)" in chart.text
    titles = [t.text for t in chart.find_elements(By.CSS_SELECTOR, ".axis-title")]
    assert titles == ["Beijing time (UTC+8)", "Net load, kW"]

    screenshot(browser, "operator-plan")
    assert console_errors(browser) == []
