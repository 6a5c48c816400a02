"""The local dashboard in a real headless browser: Debian's chromium, driven by Playwright.

A real embedded PostgreSQL is filled by Glue Job 2 from the serving fixture; the Dagster assets
render the page; chromium opens it from disk with every network request refused. The charts' own
data (Chart.js instances), the KPI tiles and the top-pages table must equal what PostgreSQL holds,
and the filters, used as a person would (date inputs, checkboxes, a select), must change them to
subsets computed here with SQL. A missing chromium is a failure, not a skip: `make test` installs it.
"""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from clickpipe_dagster.assets.dashboards import dashboard, dashboard_data_source, dashboard_datasets
from clickpipe_core.contracts import EVENT_TYPES
from clickpipe_dagster.resources.dashboard import LocalDashboardResource
from clickpipe_dagster.resources.warehouse import LocalWarehouseResource
from support import load_fixture_marts

pytestmark = pytest.mark.slow  # whole programs end to end: `make test` runs them, `make test-fast` does not

CHROMIUM = os.environ.get("CLICKPIPE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run",
]  # fmt: skip


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"chromium not found (looked for {CHROMIUM}): `make test` installs it "
            "(apt-get install chromium), or point CLICKPIPE_CHROMIUM at one"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Playwright gives the browser a fresh temporary profile (--user-data-dir) and --headless.
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _sql(url, sql, params=None):
    with psycopg.connect(url) as con:
        return con.execute(sql, params).fetchall()


class Expected:
    """The numbers the page must show, straight from PostgreSQL (independently of the page's code)."""

    def __init__(self, url):
        self.url = url
        self.days = [r[0] for r in _sql(url, "SELECT DISTINCT partition FROM marts.partition_loads "
                                              "WHERE partition <> '*' ORDER BY 1")]  # fmt: skip

    def one(self, sql, params=None):
        return _sql(self.url, sql, params)[0][0]

    def events(self, day_from, day_to, types=EVENT_TYPES):
        return int(self.one("SELECT COALESCE(SUM(events), 0) FROM marts.daily_events WHERE dt BETWEEN %s AND %s "
                            "AND event_type = ANY(%s)", [day_from, day_to, list(types)]))  # fmt: skip

    def sessions(self, a, b):
        return int(self.one("SELECT COALESCE(SUM(sessions), 0) FROM marts.funnel_daily WHERE dt BETWEEN %s AND %s", [a, b]))

    def orders(self, a, b):
        return int(self.one("SELECT COALESCE(SUM(orders), 0) FROM marts.revenue_daily WHERE dt BETWEEN %s AND %s", [a, b]))

    def revenue(self, a, b, currency) -> Decimal:
        return self.one("SELECT COALESCE(SUM(revenue), 0)::numeric(18,2) FROM marts.revenue_daily "
                        "WHERE dt BETWEEN %s AND %s AND currency = %s", [a, b, currency])  # fmt: skip

    def conversion(self, a, b):
        v, p = _sql(self.url, "SELECT SUM(viewed_sessions), SUM(purchase_sessions) FROM marts.funnel_daily "
                              "WHERE dt BETWEEN %s AND %s", [a, b])[0]  # fmt: skip
        return float(p) / float(v) if v else None

    def funnel(self, a, b):
        row = _sql(self.url, "SELECT SUM(sessions), SUM(viewed_sessions), SUM(cart_sessions), SUM(purchase_sessions) "
                             "FROM marts.funnel_daily WHERE dt BETWEEN %s AND %s", [a, b])[0]  # fmt: skip
        return [int(x) for x in row]

    def events_by_day_type(self):
        return {(str(d), t): int(n) for d, t, n in _sql(self.url, "SELECT dt, event_type, events FROM marts.daily_events")}

    def revenue_by_day(self, currency):
        return {str(d): r for d, r in _sql(self.url, "SELECT dt, SUM(revenue) FROM marts.revenue_daily WHERE currency = %s "
                                                     "GROUP BY dt", [currency])}  # fmt: skip

    def top_pages(self, a, b, limit=15):
        return [
            (page, int(views), int(sessions), int(days), int(best))
            for page, views, sessions, days, best in _sql(
                self.url,
                "SELECT page, SUM(views), SUM(sessions), COUNT(*), MIN(page_rank) FROM marts.top_pages_daily "
                "WHERE dt BETWEEN %s AND %s GROUP BY page ORDER BY SUM(views) DESC, page LIMIT %s",
                [a, b, limit],
            )
        ]


def _kpis(page) -> dict:
    return page.evaluate("() => Object.fromEntries([...document.querySelectorAll('.kpi')].map(e => [e.id, e.dataset.value]))")


def _chart(page, card_id) -> dict:
    return page.evaluate(
        """(id) => {
            const canvas = document.querySelector('#' + id + ' canvas');
            const chart = Chart.getChart(canvas);
            const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i] > 0) painted++;
            const axis = chart.options.indexAxis === 'y' ? chart.scales.y : chart.scales.x;
            const ticks = axis ? axis.ticks.map(t => t.label) : [];  // as drawn (a doughnut has no axis)
            return {type: chart.config.type, labels: chart.data.labels, ticks, painted,
                    width: canvas.width, height: canvas.height,
                    datasets: chart.data.datasets.map(d => ({label: d.label, data: d.data}))};
        }""",
        card_id,
    )


def _table(page) -> list[tuple]:
    rows = page.evaluate(
        """() => [...document.querySelectorAll('#top-pages tbody tr[data-page]')].map(tr =>
            [tr.dataset.page, ...['views', 'sessions', 'days', 'best'].map(c => tr.querySelector('td.' + c).textContent)])"""
    )
    return [(p, int(v.replace(",", "")), int(s.replace(",", "")), int(d), int(b)) for p, v, s, d, b in rows]


def _assert_page_matches(page, exp: Expected, a: str, b: str, types, currency: str):
    kpis = _kpis(page)
    assert int(kpis["kpi-events"]) == exp.events(a, b, types)
    assert int(kpis["kpi-sessions"]) == exp.sessions(a, b)
    assert int(kpis["kpi-orders"]) == exp.orders(a, b)
    assert Decimal(kpis["kpi-revenue"]) == exp.revenue(a, b, currency)
    assert float(kpis["kpi-conversion"]) == pytest.approx(exp.conversion(a, b), rel=1e-12)
    days = [d for d in exp.days if a <= d <= b]
    events = _chart(page, "events-by-type")
    by = exp.events_by_day_type()
    assert events["labels"] == days and events["ticks"] == days  # what the axis shows, too
    assert [d["label"] for d in events["datasets"]] == [t for t in EVENT_TYPES if t in types]
    for ds in events["datasets"]:
        assert ds["data"] == [by.get((d, ds["label"]), 0) for d in days], ds["label"]
    revenue = _chart(page, "revenue-trend")
    per_day = exp.revenue_by_day(currency)
    assert revenue["labels"] == days and revenue["ticks"] == days
    assert [round(Decimal(str(x)), 2) for x in revenue["datasets"][0]["data"]] == [per_day.get(d, Decimal("0.00")) for d in days]
    funnel = _chart(page, "funnel")
    assert funnel["datasets"][0]["data"] == exp.funnel(a, b)
    assert funnel["ticks"] == ["All sessions", "Viewed a page", "Added to cart", "Purchased"]
    assert _table(page) == exp.top_pages(a, b)


@pytest.fixture
def rendered(pg_url, tmp_path, monkeypatch) -> Path:
    """The fixture marts in PostgreSQL (loaded by Glue Job 2), the page rendered by the Dagster assets."""
    load_fixture_marts(monkeypatch, pg_url, tmp_path / "lake")
    resources = {
        "dashboards": LocalDashboardResource(out_dir=str(tmp_path / "dashboard")),
        "warehouse": LocalWarehouseResource(pg_dir=str(tmp_path / "unused-pg"), pg_url=pg_url),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize([dashboard_data_source, dashboard_datasets, dashboard], instance=instance, resources=resources)
    assert result.success
    md = result.asset_materializations_for_node("dashboard__dashboard")[0].metadata
    path = Path(md["path"].value)
    assert path == tmp_path / "dashboard" / "index.html"
    return path


# The browser starts after the page is rendered (fixture order): Playwright's sync API runs an event loop.
def test_dashboard_page_in_chromium_shows_postgres_numbers_and_filters_change_them(pg_url, rendered, browser, tmp_path):
    path = rendered
    exp = Expected(pg_url)
    assert exp.days == ["2026-11-01", "2026-11-02", "2026-11-03"]  # 11-02: loaded, no clicks at all
    first, last = exp.days[0], exp.days[-1]

    context = browser.new_context(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='true']", timeout=10_000)

    # Charts are drawn (canvas with painted pixels, one Chart.js instance each) with PostgreSQL's numbers.
    for card, kind in (("events-by-type", "line"), ("revenue-trend", "bar"), ("funnel", "bar")):
        chart = _chart(page, card)
        assert chart["width"] > 300 and chart["height"] > 200 and chart["painted"] > 2000, (card, chart)
        assert chart["type"] == kind or card == "revenue-trend"
    assert page.evaluate("() => Chart.version") == "4.6.1"
    _assert_page_matches(page, exp, first, last, EVENT_TYPES, "USD")
    assert page.input_value("#currency") == "USD"

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")

    # Filters, used through the page's own controls.
    page.fill("#date-from", last)
    _assert_page_matches(page, exp, last, last, EVENT_TYPES, "USD")
    assert _kpis(page)["kpi-events"] != str(exp.events(first, last))  # the tile really changed

    page.uncheck("#event-type-chips input[value='page_view']")
    page.uncheck("#event-type-chips input[value='click']")
    kept = [t for t in EVENT_TYPES if t not in ("page_view", "click")]
    _assert_page_matches(page, exp, last, last, kept, "USD")

    page.select_option("#currency", "EUR")
    _assert_page_matches(page, exp, last, last, kept, "EUR")
    assert "EUR" in page.text_content("#kpi-revenue .label")

    page.fill("#date-from", first)
    page.fill("#date-to", first)
    _assert_page_matches(page, exp, first, first, kept, "EUR")
    filtered = tmp_path / "dashboard-filtered.png"
    page.screenshot(path=str(filtered), full_page=True)
    print(f"screenshot (filtered): {filtered}")

    page.click("#reset")
    _assert_page_matches(page, exp, first, last, EVENT_TYPES, "USD")

    assert errors == []
    assert requests and all(u.startswith("file:") for u in requests), requests  # nothing but the page itself
    context.close()


def test_dashboard_sums_the_widest_amounts_exactly(pg_url, tmp_path, browser):
    """Revenue beyond a double's exact range (numeric(38,2) sums of the largest amounts): the tiles
    show PostgreSQL's numbers to the cent, and the average order value is half up."""
    from clickpipe_core.pg_load import apply_migrations

    apply_migrations(pg_url)
    largest = Decimal("9999999999999999.99")
    with psycopg.connect(pg_url) as con:
        for day, orders in (("2026-11-01", 2), ("2026-11-02", 3)):
            revenue = largest * orders - Decimal("0.01")
            con.execute("INSERT INTO marts.revenue_daily VALUES (%s, 'US', 'USD', %s, %s, %s, NULL, %s)",
                        (day, orders, orders, revenue, largest))  # fmt: skip
            con.execute("INSERT INTO marts.partition_loads VALUES ('revenue_daily', %s, 1, now(), 'test')", (day,))
    warehouse = LocalWarehouseResource(pg_dir=str(tmp_path / "unused-pg"), pg_url=pg_url)
    path = LocalDashboardResource(out_dir=str(tmp_path / "dashboard")).publish_dashboard(warehouse).metadata["path"].value
    page = browser.new_page()
    page.goto(Path(path).as_uri())
    page.wait_for_selector("body[data-ready='true']", timeout=10_000)
    total = largest * 5 - Decimal("0.02")  # 49999999999999999.93: 19 significant digits
    assert Decimal(_kpis(page)["kpi-revenue"]) == total
    assert page.text_content("#kpi-revenue .value") == "USD 49,999,999,999,999,999.93"
    aov = (total / 5).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")  # 9999999999999999.986 -> .99
    refunded = f"{largest * 2:,}"
    assert page.text_content("#kpi-revenue .sub") == f"5 orders · AOV {aov:,} · refunded {refunded}"
    page.close()


def _rows(page, card_id) -> list[list[str]]:
    return page.evaluate(
        "(id) => [...document.querySelectorAll('#' + id + ' tbody tr:not(.none)')].map(tr => [...tr.children].map(td => td.textContent))",
        card_id,
    )


def test_analytics_pages_render_postgres_numbers_and_read_at_420_px(pg_url, rendered, browser, tmp_path):
    """Acquisition, Engagement, Retention and Paths: every chart painted and every table filled with the
    sessionized marts' numbers, no console error, and readable on a 420 px wide screen."""
    exp = Expected(pg_url)
    for width in (1440, 420):
        context = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
        page.goto(rendered.as_uri())
        page.wait_for_selector("body[data-ready='true']", timeout=10_000)
        for name, charts in (("acquisition", ("channels", "devices")), ("engagement", ("durations", "session-funnel")),
                             ("retention", ()), ("paths", ())):  # fmt: skip
            page.click(f"#tab-{name}")
            assert page.evaluate("() => document.body.dataset.page") == name
            assert page.is_hidden("#page-overview") and page.is_visible(f"#page-{name}")
            page.wait_for_timeout(100)  # a frame for Chart.js to resize the charts it now shows
            for card in charts:
                chart = _chart(page, card)
                assert chart["width"] > 250 and chart["height"] > 150 and chart["painted"] > 1500, (width, card, chart)
                assert sum(x or 0 for x in chart["datasets"][0]["data"]) > 0, (card, chart)
            # nothing wider than the screen: wide tables scroll inside their card
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width, (width, name)
            page.screenshot(path=str(tmp_path / f"dashboard-{name}-{width}.png"), full_page=True)
        # the numbers are PostgreSQL's (every loaded day is selected)
        page.click("#tab-acquisition")
        channels = _chart(page, "channels")
        by_channel = dict(_sql(pg_url, "SELECT channel, SUM(sessions) FROM marts.acquisition_daily GROUP BY 1"))
        assert dict(zip(channels["labels"], channels["datasets"][0]["data"])) == {k: int(v) for k, v in by_channel.items()}
        campaigns = _rows(page, "campaigns")
        assert campaigns and sum(int(r[3].replace(",", "")) for r in campaigns) <= exp.one(
            "SELECT SUM(sessions) FROM marts.acquisition_daily")  # fmt: skip
        page.click("#tab-engagement")
        durations = _chart(page, "durations")
        assert sum(durations["datasets"][0]["data"]) == exp.one("SELECT SUM(sessions) FROM marts.engagement_daily")
        funnel = _chart(page, "session-funnel")
        assert funnel["labels"] == ["page_view", "add_to_cart", "checkout", "purchase"]
        assert funnel["datasets"][0]["data"] == [
            int(n) for (n,) in _sql(pg_url, "SELECT SUM(sessions) FROM marts.session_funnel_daily GROUP BY step ORDER BY step")
        ]
        assert _rows(page, "browsers")
        page.click("#tab-retention")
        heat = page.evaluate(
            "() => [...document.querySelectorAll('#cohorts tbody tr')].map(tr => [tr.dataset.cohort, "
            "[...tr.querySelectorAll('td[data-value]')].map(td => Number(td.dataset.value))])"
        )
        cohorts = _sql(pg_url, "SELECT cohort_week::text, array_agg(users ORDER BY weeks_since) FROM marts.retention_weekly GROUP BY 1 ORDER BY 1")
        assert heat == [[c, list(v)] for c, v in cohorts] and heat
        page.check("input[name='cohort-measure'][value='purchasers']")
        bought = page.evaluate("() => [...document.querySelectorAll('#cohorts td[data-value]')].map(td => Number(td.dataset.value))")
        assert bought == [int(n) for (n,) in _sql(pg_url, "SELECT purchasers FROM marts.retention_weekly ORDER BY cohort_week, weeks_since")]
        page.click("#tab-paths")
        transitions = _rows(page, "transitions")
        top = _sql(pg_url, "SELECT from_page, to_page, SUM(transitions) FROM marts.page_transitions_daily GROUP BY 1, 2 "
                           'ORDER BY 3 DESC, from_page COLLATE "C", to_page COLLATE "C" LIMIT 1')[0]  # fmt: skip
        assert transitions[0][1:4] == [top[0], top[1], f"{int(top[2]):,}"]
        paths = [(r[1], int(r[2].replace(",", ""))) for r in _rows(page, "purchase-paths")]
        assert paths and paths == [(p, int(n)) for p, n in _sql(
            pg_url, 'SELECT path, SUM(sessions) FROM marts.purchase_paths_daily GROUP BY 1 ORDER BY 2 DESC, path COLLATE "C" LIMIT 10')]
        assert errors == [], (width, errors)
        context.close()
