"""The grid company's and the administrator's dashboards in Chromium."""

from __future__ import annotations

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from tests.web.conftest import Park, console_errors, log_in, screenshot, wait

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
