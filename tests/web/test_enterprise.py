"""An enterprise's dashboard in Chromium: its own data only, and names shown as text."""

from __future__ import annotations

from decimal import Decimal

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.web.conftest import (
    SETTLED_DAYS_AGO,
    XSS_NAME,
    Park,
    blob_texts,
    capture_blobs,
    console_errors,
    log_in,
    months_between,
    screenshot,
    step_to,
    wait,
)

pytestmark = pytest.mark.browser


def loaded(driver: Chrome) -> None:
    """Wait until every panel has loaded its data."""
    for panel in (
        "sites",
        "assets",
        "forecast",
        "participation",
        "plan",
        "commands",
        "tracking",
        "settlements",
        "green",
    ):
        wait(driver, f"#{panel} .body[aria-busy='false']")


def show_the_settled_day(driver: Chrome, park: Park) -> None:
    """Step the performance panel to the settled day and the statements to its month."""
    step_to(driver, "tracking", SETTLED_DAYS_AGO)
    wait(driver, f"#tracking svg[aria-label*='{park.settled_day}']")
    step_to(driver, "settlements", months_between(park.today, park.settled_day))
    wait(driver, f"#settlements .statement[data-day='{park.settled_day}']")


def test_an_enterprise_sees_no_other_tenants_data(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.a.token)
    loaded(browser)
    # The panels where the pool's data lives show A's part of the settled day.
    show_the_settled_day(browser, park)
    assert browser.find_element(By.CSS_SELECTOR, "[data-role]").text == "Enterprise"
    assert browser.find_element(By.CSS_SELECTOR, "#who .account").text == park.a.name

    text = browser.find_element(By.TAG_NAME, "body").text
    source = browser.page_source
    for name in park.a.asset_names:
        if name != XSS_NAME:
            assert name in text
    for name in [*park.b.asset_names, *park.b.site_names, park.b.name]:
        assert name not in text
        assert name not in source
    # Nothing of B in the page's memory either: the options, tables and data attributes.
    assert (
        browser.execute_script("return document.documentElement.outerHTML.includes('Qilian')")
        is False
    )

    # Its share of the bids drafted for the day after tomorrow, offered kW per interval.
    forward = browser.find_elements(By.CSS_SELECTOR, "#participation .day-picker button")[-1]
    forward.click()
    forward.click()
    products = wait(browser, "#participation .product")
    assert {p.get_attribute("data-product") for p in products} <= set(park.drafts)
    assert browser.find_elements(By.CSS_SELECTOR, "#participation .s-offered rect")

    screenshot(browser, "enterprise-own-data")
    assert console_errors(browser) == []


def test_an_enterprise_sees_the_plan_of_its_own_assets_only(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.a.token)
    loaded(browser)
    select = Select(browser.find_element(By.CSS_SELECTOR, "#plan .asset-plan select"))
    planned = {o.get_attribute("value"): o.text for o in select.options}
    assert planned == {asset_id: name for name, asset_id in park.a.asset_ids.items()}
    assert not browser.find_elements(By.CSS_SELECTOR, "#plan .product, #plan .plan-summary")

    select.select_by_visible_text("Furnace cooling")
    chart = wait(
        browser, f"#plan .asset-plan-chart[data-asset='{park.a.asset_ids['Furnace cooling']}']"
    )[0]
    for series in ("s-baseline", "s-setpoint"):
        lines = chart.find_elements(By.CSS_SELECTOR, f".{series} polyline")
        assert sum(len((line.get_attribute("points") or "").split()) for line in lines) == 96
    legend = [li.text for li in chart.find_elements(By.CSS_SELECTOR, ".legend li")]
    assert legend == ["Planned setpoint", "Baseline forecast"]
    assert "Moved from its baseline in 8 of 96 intervals" in chart.text

    screenshot(browser, "enterprise-plan")
    assert console_errors(browser) == []


def test_a_name_with_markup_is_shown_as_text(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.a.token)
    loaded(browser)

    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#assets tbody td")]
    assert XSS_NAME in cells
    options = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#forecast select option")]
    assert XSS_NAME in options
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in browser.page_source
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018

    screenshot(browser, "enterprise-markup-name")
    assert console_errors(browser) == []


def test_an_enterprise_sees_its_performance_statements_and_green_report(
    browser: Chrome, park: Park
) -> None:
    log_in(browser, park.base_url, park.a.token)
    capture_blobs(browser)
    loaded(browser)
    show_the_settled_day(browser, park)

    # A's planned share: 0.5 (Mill battery) + 0.1 (Furnace cooling) of the plan, 0.6 *
    # (2220 + 2230 + 2240 + 2250 + 2260 + 2270 + 2030 + 2040) / 4 = 2,631 kWh; delivered
    # 0.6 * 17,404.8 / 4 = 2,610.7 kWh; only interval 76 (0.9) is outside +-5 % of it.
    summary = browser.find_element(By.CSS_SELECTOR, "#tracking .tracking-summary li").text
    assert summary == (
        "peak_shaving.peak_cut (down): 7 of 8 intervals delivered within ±5 % of the planned "
        "share; 2,611 kWh delivered of 2,631 kWh planned."
    )
    product = "#tracking .product[data-product='peak_shaving.peak_cut']"
    assert len(browser.find_elements(By.CSS_SELECTOR, f"{product} .s-delivered rect")) == 8
    assert not browser.find_elements(By.CSS_SELECTOR, f"{product} .s-awarded-kw")
    browser.find_element(By.CSS_SELECTOR, f"{product} details summary").click()
    short = browser.find_element(By.CSS_SELECTOR, f"{product} details tbody tr.short")
    # Interval, start, planned share (0.6 * 2260), delivered (0.9 of it), ratio, rule.
    assert [td.text for td in short.find_elements(By.TAG_NAME, "td")] == [
        "76",
        f"{park.settled_day} 19:00 UTC+8",
        "1,356",
        "1,220.4",
        "90 %",
        "outside ±5 %",
    ]

    # Its statement lines only: the figures sum its own lines, as the API gives them.
    own = park.get(f"/v1/settlements/{park.settlement['id']}", park.a.token)
    assert own["pool"] is None
    assert {line["account_id"] for line in own["lines"]} == {park.a.account_id}
    net = sum(Decimal(line["net_cny"]) for line in own["lines"])
    shown = browser.find_element(By.CSS_SELECTOR, "#settlements [data-figure='enterprises'] b")
    assert shown.text == f"{net:,.2f} CNY"
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#settlements th")]
    assert "Enterprise" not in headers
    row = browser.find_element(
        By.CSS_SELECTOR, f"#settlements .statement[data-day='{park.settled_day}']"
    )
    row.find_element(By.XPATH, ".//button[text()='CSV']").click()
    [statement] = blob_texts(browser, 1)
    lines = statement["text"].splitlines()
    assert lines[0].startswith("record,day,version,account_id,")
    assert {line.split(",")[3] for line in lines[1:]} == {park.a.account_id}

    # Its green report: its own name and metered gas; the footprint CSV of the month.
    wait(browser, "#green [data-figure='clean-share']")
    assert browser.find_element(By.CSS_SELECTOR, "#green h3").text.startswith(park.a.name)
    cells = [
        [td.text for td in r.find_elements(By.TAG_NAME, "td")]
        for r in browser.find_elements(By.CSS_SELECTOR, "#green table")[0].find_elements(
            By.CSS_SELECTOR, "tbody tr"
        )
    ]
    assert ["natural_gas", f"{park.gas_m3:,.0f}", "m3"] in [c[:3] for c in cells]
    browser.find_element(By.XPATH, "//*[@id='green']//button[text()='Footprint CSV']").click()
    footprint = blob_texts(browser, 2)[1]
    assert "natural_gas" in footprint["text"]

    screenshot(browser, "enterprise-performance-money-green")
    assert console_errors(browser) == []
