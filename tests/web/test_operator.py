"""The operator's dashboard in Chromium: the pool chart, approving a draft bid, the
day-ahead plan, the assets and the failed commands."""

from __future__ import annotations

from decimal import Decimal

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.web.conftest import (
    AWARDED_INTERVALS,
    SETTLED_DAYS_AGO,
    SHORTFALL_KW,
    WAIT_S,
    XSS_NAME,
    Park,
    blob_texts,
    capture_blobs,
    console_errors,
    foreign_resources,
    log_in,
    months_between,
    resource_urls,
    screenshot,
    step_to,
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
    stored = park.get(f"/v1/bids/{bid_id}", park.operator)
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


def test_delivered_vs_awarded_counts_the_intervals_within_the_band(
    browser: Chrome, park: Park
) -> None:
    log_in(browser, park.base_url, park.operator)
    wait(browser, "#tracking .body[aria-busy='false']")
    step_to(browser, "tracking", SETTLED_DAYS_AGO)
    day = park.settled_day
    product = "#tracking .product[data-product='peak_shaving.peak_cut']"
    wait(browser, f"#tracking svg[aria-label*='{day}']")

    # Awarded 1500 + 10k kW in 72-79: 4,510 kWh. Delivered: the plan (250 kW short in 78
    # and 79) at 0.9 in 76 and 1.04 in 77: (2220 + 2230 + 2240 + 2250 + 0.9 * 2260
    # + 1.04 * 2270 + 2030 + 2040) / 4 = 4,351.2 kWh. Within +-5 %: 72-75 and 77.
    summary = browser.find_element(
        By.CSS_SELECTOR, "#tracking .tracking-summary li[data-product='peak_shaving.peak_cut']"
    ).text
    assert summary == (
        "peak_shaving.peak_cut (down): 5 of 8 intervals delivered within ±5 % of the award; "
        "4,351 kWh delivered of 4,510 kWh awarded."
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, f"{product} .s-delivered rect")) == 8
    assert browser.find_elements(By.CSS_SELECTOR, f"{product} .s-band polygon")
    assert browser.execute_script(POINTS_JS, f"{product} .s-awarded-kw polyline") == 8
    titles = [t.text for t in browser.find_elements(By.CSS_SELECTOR, f"{product} .axis-title")]
    assert titles == ["Beijing time (UTC+8)", "Response, kW"]
    assert browser.find_element(By.CSS_SELECTOR, f"{product} .numbers-bar button").text == (
        "CSV (8 rows)"
    )
    browser.find_element(By.CSS_SELECTOR, f"{product} details summary").click()
    rows = browser.find_elements(By.CSS_SELECTOR, f"{product} details tbody tr")
    cells = {
        int(r.find_elements(By.TAG_NAME, "td")[0].text): [
            td.text for td in r.find_elements(By.TAG_NAME, "td")
        ]
        for r in rows
    }
    assert sorted(cells) == list(AWARDED_INTERVALS)
    # Interval, start, awarded, target, planned, delivered, delivered / awarded, rule.
    assert cells[76] == [
        "76",
        f"{day} 19:00 UTC+8",
        "2,260",
        "2,260",
        "2,260",
        "2,034",
        "90 %",
        "outside ±5 %",
    ]
    assert cells[77][5:] == ["2,360.8", "104 %", "within ±5 %"]
    assert cells[78][4:] == ["2,030", "2,030", "89 %", "outside ±5 %"]
    short = browser.find_elements(By.CSS_SELECTOR, f"{product} details tbody tr.short")
    assert len(short) == 3

    screenshot(browser, "operator-tracking")
    assert console_errors(browser) == []


def cny(text: str) -> str:
    """A CNY decimal string as the dashboard shows it: "1,234.50 CNY"."""
    return f"{Decimal(text):,.2f} CNY"


def test_revenue_and_penalties_with_statements_fetched_with_the_key(
    browser: Chrome, park: Park
) -> None:
    log_in(browser, park.base_url, park.operator)
    capture_blobs(browser)
    wait(browser, "#settlements .body[aria-busy='false']")
    step_to(browser, "settlements", months_between(park.today, park.settled_day))
    row = wait(browser, f"#settlements .statement[data-day='{park.settled_day}']")[0]
    row = row.find_element(By.XPATH, "./ancestor::tr")

    # The figures and the day's row are the API's pool totals, to the fen.
    pool = park.settlement["pool"]
    figures = {
        f.get_attribute("data-figure"): f.find_element(By.TAG_NAME, "b").text
        for f in browser.find_elements(By.CSS_SELECTOR, "#settlements [data-figure]")
    }
    assert figures == {
        "payment": cny(pool["payment_cny"]),
        "penalty": cny(pool["penalty_cny"]),
        "net": cny(pool["net_cny"]),
        "aggregator": cny(pool["aggregator_cny"]),
        "enterprises": cny(pool["enterprises_net_cny"]),
    }
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[:2] == [str(park.settled_day), "1"]
    assert cells[3:8] == [
        cny(pool[k])
        for k in ("payment_cny", "penalty_cny", "net_cny", "aggregator_cny", "enterprises_net_cny")
    ]
    # Per enterprise, by name: A and B both backed the award.
    names = {
        td.text
        for td in browser.find_elements(By.CSS_SELECTOR, "#settlements table tbody td:first-child")
    }
    assert {park.a.name, park.b.name} <= names

    # The statement CSV: fetched with the Authorization header, saved from a blob.
    row.find_element(By.XPATH, ".//button[text()='CSV']").click()
    [csv] = blob_texts(browser, 1)
    assert csv["text"].startswith("record,day,version,account_id,product,interval,")
    assert f"total,{park.settled_day},1," in csv["text"]
    # The printable statement opens in a new tab from a blob.
    before = set(browser.window_handles)
    row.find_element(By.XPATH, ".//button[text()='Printable']").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: len(d.window_handles) > len(before))
    [tab] = set(browser.window_handles) - before
    view = browser.current_window_handle
    browser.switch_to.window(tab)
    WebDriverWait(browser, WAIT_S).until(lambda d: d.title.startswith("Settlement statement"))
    assert browser.title == f"Settlement statement {park.settled_day} (version 1)"
    assert browser.current_url.startswith(f"blob:{park.base_url}/")
    browser.close()
    browser.switch_to.window(view)
    # The key never went into a URL.
    assert not [u for u in resource_urls(browser) if park.operator in u]

    screenshot(browser, "operator-settlements")
    assert console_errors(browser) == []


def test_green_power_carbon_and_grid_instructions(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.operator)
    month = f"{park.today:%Y-%m}"
    report = park.get("/v1/green/report", park.operator, month=month)
    park_scope = report["park"]
    meter = wait(browser, "#green [data-figure='clean-share'] meter")[0]
    assert float(meter.get_attribute("value") or "nan") == pytest.approx(
        park_scope["clean_share"] or 0.0
    )
    clean = browser.find_element(By.CSS_SELECTOR, "#green [data-figure='clean-share']").text
    assert f"clean energy, target {report['targets']['clean_share'] * 100:g} % by" in clean
    intensity = browser.find_element(By.CSS_SELECTOR, "#green [data-figure='intensity']").text
    assert (
        intensity
        == f"{park_scope['intensity_t_co2_per_tce']:,.3f}".rstrip("0").rstrip(".")
        + " t CO2 per tce"
    )
    # The carriers: A's metered natural gas among them, in its unit.
    carriers = {
        r.find_elements(By.TAG_NAME, "td")[0].text: [
            td.text for td in r.find_elements(By.TAG_NAME, "td")
        ]
        for r in browser.find_elements(By.CSS_SELECTOR, "#green table")[0].find_elements(
            By.CSS_SELECTOR, "tbody tr"
        )
    }
    assert carriers["natural_gas"][1:3] == [f"{park.gas_m3:,.0f}", "m3"]
    enterprises = [
        td.text for td in browser.find_elements(By.CSS_SELECTOR, "#green tbody td:first-child")
    ]
    assert {park.a.name, park.b.name} <= set(enterprises)

    # The instructions, newest first, with their answers.
    rows = wait(browser, "#instructions tbody tr")
    cells = [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert [c[1] for c in cells] == ["web-ins-2", "web-ins-1"]
    assert cells[1][4:8] == ["19:00–20:00 UTC+8", "1,800 kW", "1,800 kW", "accepted"]
    assert cells[0][7:9] == ["rejected", "beyond the pool's enrolled capacity"]

    screenshot(browser, "operator-green-instructions")
    assert console_errors(browser) == []
