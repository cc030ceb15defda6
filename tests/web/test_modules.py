"""The dashboard's pure JavaScript (scales, ticks, SVG geometry, Beijing time, CSV),
run as ES modules in Chromium with hand-computed answers."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver import Chrome

from tests.web.conftest import Park, console_errors, screenshot

pytestmark = pytest.mark.browser

RUN = """
const done = arguments[arguments.length - 1];
Promise.all(["chart", "format", "api", "tracking", "settlements", "schedules"].map(
    (name) => import(`/static/${name}.js`)))
  .then(([chart, format, api, tracking, settlements, schedules]) =>
    done({ value: (EXPRESSION) }))
  .catch((error) => done({ error: String(error) }));
"""


@pytest.fixture(scope="module")
def js(browser: Chrome, park: Park) -> Any:
    """Evaluate a JavaScript expression over the chart, format and api modules (the
    driver runs the script, so the page's policy against eval does not apply)."""
    browser.get(f"{park.base_url}/")

    def evaluate(expression: str) -> Any:
        result = browser.execute_async_script(RUN.replace("EXPRESSION", expression))
        assert "error" not in result, result["error"]
        return result["value"]

    return evaluate


def test_nice_ticks_cover_the_range_in_round_steps(js: Any) -> None:
    assert js("chart.niceTicks(0, 97, 5)") == {
        "lo": 0,
        "hi": 100,
        "step": 20,
        "ticks": [0, 20, 40, 60, 80, 100],
    }
    assert js("chart.niceTicks(-1234, 5678, 5)")["ticks"] == [-2000, 0, 2000, 4000, 6000]
    assert js("chart.niceTicks(0.02, 0.93, 4)")["ticks"] == [0, 0.5, 1]
    # A flat range still gets an axis: +-10 % around the value, or +-1 around zero.
    assert js("chart.niceTicks(50, 50, 5)")["ticks"] == [44, 46, 48, 50, 52, 54, 56]
    assert js("chart.niceTicks(0, 0, 2)")["ticks"] == [-1, 0, 1]
    assert js("[chart.niceStep(10, 5), chart.niceStep(12, 5), chart.niceStep(0.3, 3)]") == [
        2,
        5,
        0.1,
    ]


def test_scales_and_extents(js: Any) -> None:
    assert js("chart.linearScale([0, 10], [100, 200])(2.5)") == 125
    assert js("chart.linearScale([0, 10], [300, 0])(10)") == 0
    assert js("chart.linearScale([5, 5], [0, 100])(5)") == 50
    assert js("chart.extent([3, null, -2, NaN, undefined, 7])") == [-2, 7]
    assert js("chart.extent([null])") is None


def test_time_ticks_fall_on_whole_beijing_hours(js: Any) -> None:
    # 2026-11-26 00:00 Beijing is 2026-11-25 16:00 UTC; two days get 6-hour ticks.
    ticks = js("chart.timeTicks(format.dayStartMs('2026-11-26'), format.dayStartMs('2026-11-28'))")
    labels = js(f"{ticks}.map(chart.timeTickLabel)")
    assert labels == [
        "11-26 00:00",
        "06:00",
        "12:00",
        "18:00",
        "11-27 00:00",
        "06:00",
        "12:00",
        "18:00",
        "11-28 00:00",
    ]
    one_day = js(
        "chart.timeTicks(format.dayStartMs('2026-11-26'), format.dayStartMs('2026-11-27'))"
    )
    assert len(one_day) == 9  # every 3 hours


SCALES = """
const x = chart.linearScale([0, 4], [0, 40]);
const y = chart.linearScale([0, 10], [100, 0]);
"""


def test_svg_geometry_splits_at_gaps(js: Any) -> None:
    lines = js(
        f"""(() => {{ {SCALES}
          const points = [{{t: 0, v: 0}}, {{t: 1, v: 5}}, {{t: 2, v: null}}, {{t: 3, v: 10}}];
          return chart.lineSegments(points, x, y); }})()"""
    )
    assert lines == ["0.0,100.0 10.0,50.0", "30.0,0.0"]
    bands = js(
        f"""(() => {{ {SCALES}
          const points = [{{t: 0, lo: 1, hi: 2}}, {{t: 1, lo: 2, hi: 4}},
                          {{t: 2, lo: null, hi: 3}}];
          return chart.bandPolygons(points, x, y); }})()"""
    )
    assert bands == ["0.0,80.0 10.0,60.0 10.0,80.0 0.0,90.0"]
    bars = js(
        f"""(() => {{ {SCALES}
          const points = [{{t: 0, v: 5}}, {{t: 1, v: -2}}, {{t: 2, v: null}}];
          return chart.barRects(points, 1, x, chart.linearScale([-5, 5], [100, 0])); }})()"""
    )
    assert [(b["x"], b["y"], b["width"], b["height"]) for b in bars] == [
        (0.5, 0, 9, 50),
        (10.5, 50, 9, 20),
    ]


def test_a_chart_has_its_points_axes_and_legend(js: Any, browser: Chrome) -> None:
    counts = js(
        """(() => {
          const t0 = format.dayStartMs('2026-11-26');
          const points = [0, 1, 2, 3].map((k) => ({ t: t0 + k * 900000, v: k * 10 }));
          const box = chart.timeChart({ title: 'T', x: [t0, t0 + 3600000], yLabel: 'Net load, kW',
            layers: [{ type: 'line', cls: 's-baseline', label: '<b>x</b>', points },
                     { type: 'bars', cls: 's-up', label: 'bars', points, widthMs: 900000 }],
            markers: [{ t: t0 + 1800000, label: 'now' }] });
          return { points: box.querySelector('polyline').points.numberOfItems,
                   rects: box.querySelectorAll('rect').length,
                   titles: [...box.querySelectorAll('.axis-title')].map((n) => n.textContent),
                   legend: [...box.querySelectorAll('.legend li')].map((n) => n.textContent),
                   markup: box.querySelectorAll('b').length };
        })()"""
    )
    assert counts == {
        "points": 4,
        "rects": 4,
        "titles": ["Beijing time (UTC+8)", "Net load, kW"],
        "legend": ["<b>x</b>", "bars"],
        "markup": 0,
    }
    screenshot(browser, "modules")
    assert console_errors(browser) == []


def test_beijing_time_and_market_days(js: Any) -> None:
    assert js("format.fmtTime('2026-11-26T06:15:00Z')") == "14:15 UTC+8"
    assert js("format.fmtDateTime('2026-11-25T16:00:00Z')") == "2026-11-26 00:00 UTC+8"
    assert js("format.isoBeijing('2026-11-25T23:45:00Z')") == "2026-11-26T07:45+08:00"
    assert js("format.beijingDay('2026-11-25T15:59:59Z')") == "2026-11-25"
    assert js("format.beijingDay('2026-11-25T16:00:00Z')") == "2026-11-26"
    assert (
        js("new Date(format.dayStartMs('2026-11-26')).toISOString()") == "2026-11-25T16:00:00.000Z"
    )
    assert js("[format.addDays('2026-12-31', 1), format.addDays('2026-03-01', -1)]") == [
        "2027-01-01",
        "2026-02-28",
    ]
    assert (
        js("new Date(format.intervalStartMs('2026-11-26', 95)).toISOString()")
        == "2026-11-26T15:45:00.000Z"
    )
    assert (
        js("new Date(format.intervalStartMs('2026-11-26', 23, 24)).toISOString()")
        == "2026-11-26T15:00:00.000Z"
    )


def test_csv_quotes_fields_and_defuses_formulas(js: Any) -> None:
    csv = js(
        """format.toCsv([{ label: 'Asset', key: 'name' }, { label: 'Power kW', key: 'kw' }], [
             { name: 'Mill, "north"', kw: -350.5 },
             { name: '=HYPERLINK("x")', kw: 0 },
             { name: null, kw: 1 }])"""
    )
    assert csv == 'Asset,Power kW\r\n"Mill, ""north""",-350.5\r\n"\'=HYPERLINK(""x"")",0\r\n,1\r\n'


def test_the_context_takes_the_service_clock_from_who_am_i(js: Any) -> None:
    # The service's clock (faster than real time in the demo), not the browser's.
    ctx = js(
        """api.contextOf({ account_id: 'a', account_name: 'Park operations', role: 'operator',
             key_id: 'k', key_expires_at: null, now: '2026-11-25T16:30:00.123456Z' },
           [{ product: 'peak_shaving.peak_cut', intervals_per_day: 96 },
            { product: 'green_power.day_ahead.buy', intervals_per_day: 24 }])"""
    )
    assert ctx["role"] == "operator"
    assert ctx["today"] == "2026-11-26"
    assert ctx["now"] == js("Date.parse('2026-11-25T16:30:00.123Z')")
    assert ctx["intervalsPerDay"] == {
        "peak_shaving.peak_cut": 96,
        "green_power.day_ahead.buy": 24,
    }
    late = js("api.contextOf({ role: 'grid', now: '2026-11-26T15:59:59+00:00' }, []).today")
    assert late == "2026-11-26"


def test_interval_runs_read_as_beijing_time_ranges(js: Any) -> None:
    assert js("format.intervalRuns('2026-11-26', [79, 72, 73, 78])") == [
        "18:00–18:30 UTC+8",
        "19:30–20:00 UTC+8",
    ]
    assert js("format.intervalRuns('2026-11-26', [95])") == ["23:45–00:00 UTC+8"]
    assert js("format.intervalRuns('2026-11-26', [23], 24)") == ["23:00–00:00 UTC+8"]
    assert js("format.intervalRuns('2026-11-26', [])") == []


def test_the_five_percent_rule_months_and_small_numbers(js: Any) -> None:
    # |delivered - reference| <= 5 % of the reference; nothing measured or nothing to
    # deliver is not within.
    assert js(
        "[[950, 1000], [1050, 1000], [949.9, 1000], [1050.1, 1000], [null, 1000], [0, 0]]"
        ".map(([d, r]) => format.withinBand(d, r))"
    ) == [True, True, False, False, False, False]
    assert js(
        "[format.addMonths('2026-11', 2), format.addMonths('2026-01', -1),"
        " format.monthOf('2026-03-09')]"
    ) == ["2027-01", "2025-12", "2026-03"]
    assert js(
        "[format.fmtNumber(-0.0004, 1), format.fmtPct(0.8, 0), format.fmtCny('-1234.5')]"
    ) == [
        "0",
        "80 %",
        "-1,234.50 CNY",
    ]


def test_money_is_summed_exactly_in_fen(js: Any) -> None:
    # 0.1 + 0.2 in floating point is 0.30000000000000004; in fen it is 30.
    assert js("settlements.sumCny(['0.10', '0.20'])") == "0.30"
    assert js("settlements.sumCny(['1234.56', '-0.07', '-2000'])") == "-765.51"
    assert js("[settlements.toFen('-0.05'), settlements.fenText(-5), settlements.fenText(0)]") == [
        -5,
        "-0.05",
        "0.00",
    ]
    rows = js(
        """settlements.dayRows([{ id: 's', day: '2026-11-24', version: 2, settled_at: 'x',
             pool: null,
             lines: [{ payment_cny: '10.00', penalty_cny: '2.50', gross_cny: '7.50',
                       aggregator_cny: '1.50', net_cny: '6.00', flagged_intervals: 1,
                       response_kwh: 3 },
                     { payment_cny: '0.10', penalty_cny: '0.20', gross_cny: '-0.10',
                       aggregator_cny: '0.00', net_cny: '-0.10', flagged_intervals: 0,
                       response_kwh: 1 }] }])"""
    )
    assert rows == [
        {
            "id": "s",
            "day": "2026-11-24",
            "version": 2,
            "settled_at": "x",
            "payment_cny": "10.10",
            "penalty_cny": "2.70",
            "net_cny": "7.40",
            "aggregator_cny": "1.50",
            "enterprises_net_cny": "5.90",
            "flagged": 1,
            "response_kwh": 4,
        }
    ]


def test_an_enterprise_is_counted_against_its_planned_share(js: Any) -> None:
    summary = js(
        """(() => {
          const t = { scope: 'enterprise', intervals: [
            { product: 'p', interval: 72, start: '2026-11-26T10:00:00Z', awarded_kw: null,
              target_kw: null, planned_kw: 100, delivered_kw: 96, live: false },
            { product: 'p', interval: 73, start: '2026-11-26T10:15:00Z', awarded_kw: null,
              target_kw: null, planned_kw: 100, delivered_kw: 90, live: false },
            { product: 'p', interval: 74, start: '2026-11-26T10:30:00Z', awarded_kw: null,
              target_kw: null, planned_kw: 200, delivered_kw: null, live: false }],
            products: [{ product: 'p', direction: 'down', awarded_kwh: null, delivered_kwh: 46.5,
              intervals_awarded: 0, intervals_within_5pct: null }] };
          const rows = tracking.trackingRows(t, 'p');
          return { ratios: rows.map((r) => r.ratio), within: rows.map((r) => r.within),
                   summary: tracking.trackingSummary(t, 'p', rows) };
        })()"""
    )
    assert summary["ratios"] == [0.96, 0.9, None]
    assert summary["within"] == [True, False, False]
    # 400 kW planned over three 15-minute intervals: 100 kWh.
    assert summary["summary"] == {
        "product": "p",
        "direction": "down",
        "reference": "planned share",
        "intervals": 3,
        "within": 1,
        "unmeasured": 1,
        "live": False,
        "referenceKwh": 100,
        "deliveredKwh": 46.5,
    }


def test_schedule_rows_and_kw_ranges(js: Any) -> None:
    rows = js(
        """(() => {
          const v = (version, target) => ({ version, baseline_kw: Array(96).fill(10),
            planned_kw: Array(96).fill(8),
            products: [{ product: 'p', awarded_kw: Array(96).fill(2),
                         target_kw: Array(96).fill(target), deliverable_kw: Array(96).fill(1) }] });
          return schedules.scheduleRows('2026-11-26', { day_ahead: v(1, 2), current: v(2, 3) });
        })()"""
    )
    assert len(rows) == 96
    assert rows[95]["t"] == js("format.intervalStartMs('2026-11-26', 95)")
    assert {k: v for k, v in rows[0].items() if k != "t"} == {
        "interval": 0,
        "da_baseline_kw": 10,
        "da_planned_kw": 8,
        "cur_baseline_kw": 10,
        "cur_planned_kw": 8,
        "da|p|awarded": 2,
        "da|p|target": 2,
        "da|p|deliverable": 1,
        "cur|p|awarded": 2,
        "cur|p|target": 3,
        "cur|p|deliverable": 1,
    }
    assert js(
        "[schedules.kwRange([1800, 1800]), schedules.kwRange([800, 1200.25]),"
        " schedules.kwRange([])]"
    ) == [
        "1,800 kW",
        "800–1,200.3 kW",
        "",
    ]
