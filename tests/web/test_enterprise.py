"""An enterprise's dashboard in Chromium: its own data only, and names shown as text."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.web.conftest import XSS_NAME, Park, console_errors, log_in, screenshot, wait

pytestmark = pytest.mark.browser


def loaded(driver: Chrome) -> None:
    """Wait until every panel has loaded its data."""
    for panel in ("sites", "assets", "forecast", "participation", "plan", "commands"):
        wait(driver, f"#{panel} .body[aria-busy='false']")


def test_an_enterprise_sees_no_other_tenants_data(browser: Chrome, park: Park) -> None:
    log_in(browser, park.base_url, park.a.token)
    loaded(browser)
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
