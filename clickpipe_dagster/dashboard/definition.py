"""The dashboard, defined once: its visuals, and the QuickSight ``Definition`` built from them.

Five sheets, the pages of the local dashboard, with the same visual ids and titles:

- **Overview**: KPI tiles (events, sessions, orders, revenue in the selected currency, conversion view →
  purchase), events per day by event type, revenue per day | the session funnel, the top pages.
- **Acquisition**: sessions and conversions by channel | sessions by device class (a donut), sources and
  campaigns (a table with bounce rate, conversion rate and revenue in the selected currency).
- **Engagement**: sessions per duration bucket with pages per session (bars and a line) | the funnel over
  whole sessions, devices × browsers × operating systems (a table).
- **Retention**: the weekly cohort heat map (rows: the week of first visit, columns: weeks since, colour:
  the share of the cohort active that week, or who bought that week: the "Cohort measure" control).
- **Paths**: the most frequent page → next page moves, and the most common paths to purchase (tables).

Controls: a date range (From/To on every sheet but Retention; one cross-dataset filter on ``dt``, which
every daily dataset has, scoped to those sheets), an event-type filter (the events tile and chart), a
currency (the revenue tile and chart, the campaigns' revenue; amounts are never converted between
currencies), and the cohort measure (users or purchasers).

The local page (``page.py``) draws the same visuals with the same ids and titles (``VISUALS`` on its
Overview, ``ANALYTICS_VISUALS`` on the other four pages). This module is pure data (no AWS call):
``dashboard_definition(arns)`` returns the ``Definition`` for ``create_dashboard``/``update_dashboard``;
the tests validate it against QuickSight's API model and check that every field a visual names exists
in its dataset with a type that visual accepts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

SHEET_ID = "overview"
OVERVIEW_DATASETS = ("daily_events", "funnel_daily", "revenue_daily", "top_pages_daily")

# Parameter names: letters and digits only (QuickSight's rule).
P_DATE_FROM, P_DATE_TO, P_CURRENCY, P_COHORT_MEASURE = "DateFrom", "DateTo", "Currency", "CohortMeasure"
COHORT_MEASURES = ("users", "purchasers")  # columns of retention_weekly; the heat map's colour is their share
DEFAULT_RANGE_DAYS = 90  # QuickSight opens on the last 90 days; the local page on every loaded day


@dataclass(frozen=True)
class VisualSpec:
    id: str
    title: str
    subtitle: str = ""


KPI_EVENTS = VisualSpec("kpi-events", "Events", "click events of the selected types")
KPI_SESSIONS = VisualSpec("kpi-sessions", "Sessions", "sessions per day, summed over the days")
KPI_ORDERS = VisualSpec("kpi-orders", "Orders", "completed transactions, every currency")
KPI_REVENUE = VisualSpec("kpi-revenue", "Revenue", "completed transactions in the selected currency")
KPI_CONVERSION = VisualSpec("kpi-conversion", "Conversion", "sessions with a purchase / sessions with a page view")
EVENTS_BY_TYPE = VisualSpec("events-by-type", "Events per day by type")
REVENUE_TREND = VisualSpec("revenue-trend", "Revenue per day", "selected currency; orders on the right axis")
FUNNEL = VisualSpec("funnel", "Session funnel", "sessions reaching each step, in order, within a UTC day")
TOP_PAGES = VisualSpec("top-pages", "Top pages", "page views over the selected days, from each day's top 50")

KPIS = (KPI_EVENTS, KPI_SESSIONS, KPI_ORDERS, KPI_REVENUE, KPI_CONVERSION)
VISUALS = (*KPIS, EVENTS_BY_TYPE, REVENUE_TREND, FUNNEL, TOP_PAGES)

# The analytics pages (Acquisition, Engagement, Retention, Paths), over the sessionized marts.
CHANNELS = VisualSpec("channels", "Sessions by channel", "sessions and conversions over the selected days; bots left out")
DEVICES = VisualSpec("devices", "Sessions by device", "device class from the user agent (ua-parser)")
CAMPAIGNS = VisualSpec("campaigns", "Sources and campaigns", "by sessions over the selected days")
DURATIONS = VisualSpec("durations", "Session duration", "sessions per duration bucket; pages per session on the right axis")
SESSION_FUNNEL = VisualSpec("session-funnel", "Funnel over whole sessions", "page view → cart → checkout → purchase, in order, across midnight")
BROWSERS = VisualSpec("browsers", "Devices, browsers and operating systems", "by sessions over the selected days")
COHORTS = VisualSpec(
    "cohorts", "Weekly retention cohorts",
    "users by the ISO week of their first visit, and the share of them active N weeks later; every loaded week (the dates do not filter it)",
)  # fmt: skip
TRANSITIONS = VisualSpec("transitions", "Next page", "the most frequent moves from a page to the next, from each day's top 100")
PURCHASE_PATHS = VisualSpec("purchase-paths", "Paths to purchase", "the last four pages viewed before buying, from each day's top 20")
ANALYTICS_VISUALS = (CHANNELS, DEVICES, CAMPAIGNS, DURATIONS, SESSION_FUNNEL, BROWSERS, COHORTS, TRANSITIONS, PURCHASE_PATHS)
ANALYTICS_DATASETS = ("acquisition_daily", "engagement_daily", "devices_daily", "session_funnel_daily",
                      "page_transitions_daily", "purchase_paths_daily", "retention_weekly")  # fmt: skip
DATASETS_USED = (*OVERVIEW_DATASETS, *ANALYTICS_DATASETS)  # every page's: the dashboard asset depends on them all


@dataclass(frozen=True)
class SheetSpec:
    id: str  # also the local page's tab (#id)
    name: str
    title: str
    visuals: tuple[VisualSpec, ...]
    date_range: bool = True  # the From/To controls and the date filter apply to it
    currency: bool = False  # a Currency control (amounts in one currency, never converted)


SHEETS = (
    SheetSpec(SHEET_ID, "Overview", "clickpipe: clicks, funnel and revenue", VISUALS, currency=True),
    SheetSpec("acquisition", "Acquisition", "Where sessions come from", (CHANNELS, DEVICES, CAMPAIGNS), currency=True),
    SheetSpec("engagement", "Engagement", "How long sessions last and how far they go", (DURATIONS, SESSION_FUNNEL, BROWSERS)),
    SheetSpec("retention", "Retention", "Who comes back, week after week", (COHORTS,), date_range=False),
    SheetSpec("paths", "Paths", "Where people go next, and the way to a purchase", (TRANSITIONS, PURCHASE_PATHS)),
)
ALL_VISUALS = tuple(v for sheet in SHEETS for v in sheet.visuals)
DATE_RANGE_SHEETS = tuple(sheet.id for sheet in SHEETS if sheet.date_range)
assert set(ALL_VISUALS) == {*VISUALS, *ANALYTICS_VISUALS}, "every visual is on one sheet"

FUNNEL_STEPS = (  # (column of funnel_daily, label)
    ("sessions", "All sessions"),
    ("viewed_sessions", "Viewed a page"),
    ("cart_sessions", "Added to cart"),
    ("purchase_sessions", "Purchased"),
)


# -- small builders for the Definition's verbose shapes ------------------------------------------------


def _column(ds: str, name: str) -> dict:
    return {"DataSetIdentifier": ds, "ColumnName": name}


def _title(spec: VisualSpec) -> dict:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": spec.title}}


def _subtitle(spec: VisualSpec) -> dict:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": spec.subtitle}} if spec.subtitle else {"Visibility": "HIDDEN"}


def _number(decimals: int) -> dict:
    return {
        "FormatConfiguration": {
            "NumberDisplayFormatConfiguration": {
                "DecimalPlacesConfiguration": {"DecimalPlaces": decimals},
                "NumberScale": "NONE",
                "SeparatorConfiguration": {
                    "DecimalSeparator": "DOT",
                    "ThousandsSeparator": {"Symbol": "COMMA", "Visibility": "VISIBLE"},
                },
            }
        }
    }


def _percent(decimals: int = 1) -> dict:
    places = {"DecimalPlacesConfiguration": {"DecimalPlaces": decimals}}
    return {"FormatConfiguration": {"PercentageDisplayFormatConfiguration": places}}


def _sum(field_id: str, ds: str, column: str, decimals: int = 0) -> dict:
    return {
        "NumericalMeasureField": {
            "FieldId": field_id,
            "Column": _column(ds, column),
            "AggregationFunction": {"SimpleNumericalAggregation": "SUM"},
            "FormatConfiguration": _number(decimals),
        }
    }


def _day(field_id: str, ds: str) -> dict:
    return {"DateDimensionField": {"FieldId": field_id, "Column": _column(ds, "dt"), "DateGranularity": "DAY"}}


def _category(field_id: str, ds: str, column: str) -> dict:
    return {"CategoricalDimensionField": {"FieldId": field_id, "Column": _column(ds, column)}}


def _visual(kind: str, spec: VisualSpec, configuration: dict) -> dict:
    """A visual of the given kind (``"BarChartVisual"``, ...) with the spec's id, title and subtitle."""
    return {kind: {"VisualId": spec.id, "Title": _title(spec), "Subtitle": _subtitle(spec), "ChartConfiguration": configuration}}


def _sort(field_id: str, direction: str = "DESC") -> dict:
    return {"FieldSort": {"FieldId": field_id, "Direction": direction}}


def _kpi(spec: VisualSpec, value: dict) -> dict:
    return _visual("KPIVisual", spec, {
        "FieldWells": {"Values": [value]},
        "KPIOptions": {"PrimaryValueDisplayType": "ACTUAL"},
    })


def _scope(visual_ids: list[str] | None, sheet_ids: tuple[str, ...] = (SHEET_ID,)) -> dict:
    if visual_ids is None:
        confs = [{"SheetId": sheet, "Scope": "ALL_VISUALS"} for sheet in sheet_ids]
    else:
        confs = [{"SheetId": sheet, "Scope": "SELECTED_VISUALS", "VisualIds": visual_ids} for sheet in sheet_ids]
    return {"SelectedSheets": {"SheetVisualScopingConfigurations": confs}}


def _measure(field_id: str, ds: str, calculated: str, fmt: dict) -> dict:
    """A measure on an aggregated calculated field (it aggregates itself: no AggregationFunction)."""
    return {"NumericalMeasureField": {"FieldId": field_id, "Column": _column(ds, calculated), "FormatConfiguration": fmt}}


def _labels(labels: dict[str, str]) -> dict:
    return {"SelectedFieldOptions": [{"FieldId": f, "CustomLabel": label} for f, label in labels.items()]}


def _table(spec: VisualSpec, group_by: list[dict], values: list[dict], sort_by: str, rows: int, labels: dict[str, str]) -> dict:
    return _visual("TableVisual", spec, {
        "FieldWells": {"TableAggregatedFieldWells": {"GroupBy": group_by, "Values": values}},
        "SortConfiguration": {
            "RowSort": [_sort(sort_by)],
            "PaginationConfiguration": {"PageSize": rows, "PageNumber": 1},
        },
        "FieldOptions": _labels(labels),
    })


def _by_column(ds: str, column: str) -> dict:
    """Sort categories by a column of their rows (its minimum), ascending: steps and buckets in order."""
    by = {"SortBy": _column(ds, column), "Direction": "ASC"}
    return {"ColumnSort": {**by, "AggregationFunction": {"NumericalAggregationFunction": {"SimpleNumericalAggregation": "MIN"}}}}


# -- the visuals -----------------------------------------------------------------------------------------


def _overview_visuals() -> list[dict]:
    conversion = {
        "NumericalMeasureField": {
            "FieldId": "conversion",
            "Column": _column("funnel_daily", "conversion"),  # an aggregated calculated field (below)
            "FormatConfiguration": _percent(1),
        }
    }
    events_by_type = _visual("LineChartVisual", EVENTS_BY_TYPE, {
        "FieldWells": {
            "LineChartAggregatedFieldWells": {
                "Category": [_day("events-day", "daily_events")],
                "Values": [_sum("events-sum", "daily_events", "events")],
                "Colors": [_category("events-type", "daily_events", "event_type")],
            }
        },
        "Type": "LINE",
        "Legend": {"Visibility": "VISIBLE", "Position": "RIGHT"},
    })
    revenue_trend = _visual("LineChartVisual", REVENUE_TREND, {
        "FieldWells": {
            "LineChartAggregatedFieldWells": {
                "Category": [_day("revenue-day", "revenue_daily")],
                "Values": [
                    _sum("revenue-sum", "revenue_daily", "revenue", decimals=2),
                    _sum("revenue-orders", "revenue_daily", "orders"),
                ],
            }
        },
        "Type": "LINE",
        "Series": [{"FieldSeriesItem": {"FieldId": "revenue-orders", "AxisBinding": "SECONDARY_YAXIS"}}],
        "Legend": {"Visibility": "VISIBLE", "Position": "BOTTOM"},
    })
    funnel = _visual("BarChartVisual", FUNNEL, {
        "FieldWells": {
            "BarChartAggregatedFieldWells": {
                "Values": [_sum(f"funnel-{col}", "funnel_daily", col) for col, _ in FUNNEL_STEPS],
            }
        },
        "Orientation": "HORIZONTAL",
        "BarsArrangement": "CLUSTERED",
        "DataLabels": {"Visibility": "VISIBLE"},
        "Legend": {"Visibility": "VISIBLE", "Position": "BOTTOM"},
    })
    top_pages = _table(
        TOP_PAGES,
        [_category("top-page", "top_pages_daily", "page")],
        [
            _sum("top-views", "top_pages_daily", "views"),
            _sum("top-sessions", "top_pages_daily", "sessions"),
            {
                "DateMeasureField": {
                    "FieldId": "top-days",
                    "Column": _column("top_pages_daily", "dt"),
                    "AggregationFunction": "DISTINCT_COUNT",
                }
            },
            {
                "NumericalMeasureField": {
                    "FieldId": "top-best-rank",
                    "Column": _column("top_pages_daily", "page_rank"),
                    "AggregationFunction": {"SimpleNumericalAggregation": "MIN"},
                }
            },
        ],
        sort_by="top-views",
        rows=15,
        labels={"top-page": "Page", "top-views": "Views", "top-sessions": "Sessions", "top-days": "Days in top 50",
                "top-best-rank": "Best rank"},
    )  # fmt: skip
    return [
        _kpi(KPI_EVENTS, _sum("kpi-events-sum", "daily_events", "events")),
        _kpi(KPI_SESSIONS, _sum("kpi-sessions-sum", "funnel_daily", "sessions")),
        _kpi(KPI_ORDERS, _sum("kpi-orders-sum", "revenue_daily", "orders")),
        _kpi(KPI_REVENUE, _sum("kpi-revenue-sum", "revenue_daily", "revenue", decimals=2)),
        _kpi(KPI_CONVERSION, conversion),
        events_by_type,
        revenue_trend,
        funnel,
        top_pages,
    ]


# Aggregated calculated fields: (dataset, name, expression). Rates are ratios of sums, so they stay right
# over any selection of days. A share of a day total repeated on each row of its day counts that total
# once per day (a level-aware max at dt, then summed) over the days the row's move or path is in the
# day's top list: the local page's share when it is in every selected day's top list.
CALCULATED_FIELDS = (
    ("funnel_daily", "conversion", "sum({purchase_sessions}) / sum({viewed_sessions})"),
    ("acquisition_daily", "acquisition_bounce_rate", "sum({bounces}) / sum({sessions})"),
    ("acquisition_daily", "acquisition_conversion_rate", "sum({conversions}) / sum({sessions})"),
    ("acquisition_daily", "acquisition_revenue", "sumIf({revenue}, {revenue_currency} = ${%s})" % P_CURRENCY),
    ("engagement_daily", "pages_per_session", "sum({page_views}) / sum({sessions})"),
    ("devices_daily", "devices_bounce_rate", "sum({bounces}) / sum({sessions})"),
    ("retention_weekly", "cohort_share",
     "ifelse(${%s} = 'purchasers', sum({purchasers}), sum({users})) / sum({cohort_users})" % P_COHORT_MEASURE),
    ("page_transitions_daily", "transition_share", "sum({transitions}) / sum(max({day_transitions}, [{dt}]))"),
    ("purchase_paths_daily", "path_share", "sum({sessions}) / sum(max({day_sessions}, [{dt}]))"),
)  # fmt: skip


def _acquisition_visuals() -> list[dict]:
    acq = "acquisition_daily"
    channels = _visual("BarChartVisual", CHANNELS, {
        "FieldWells": {
            "BarChartAggregatedFieldWells": {
                "Category": [_category("channel", acq, "channel")],
                "Values": [_sum("channel-sessions", acq, "sessions"), _sum("channel-conversions", acq, "conversions")],
            }
        },
        "SortConfiguration": {"CategorySort": [_sort("channel-sessions")]},
        "Orientation": "HORIZONTAL",
        "BarsArrangement": "CLUSTERED",
        "Legend": {"Visibility": "VISIBLE", "Position": "BOTTOM"},
    })
    devices = _visual("PieChartVisual", DEVICES, {
        "FieldWells": {
            "PieChartAggregatedFieldWells": {
                "Category": [_category("device-class", "devices_daily", "device_class")],
                "Values": [_sum("device-sessions", "devices_daily", "sessions")],
            }
        },
        "SortConfiguration": {"CategorySort": [_sort("device-sessions")]},
        "DonutOptions": {"ArcOptions": {"ArcThickness": "MEDIUM"}},
        "Legend": {"Visibility": "VISIBLE", "Position": "RIGHT"},
    })
    campaigns = _table(
        CAMPAIGNS,
        [_category("campaign-channel", acq, "channel"), _category("campaign-source", acq, "source"),
         _category("campaign-name", acq, "campaign")],
        [_sum("campaign-sessions", acq, "sessions"), _measure("campaign-bounce-rate", acq, "acquisition_bounce_rate", _percent(1)),
         _sum("campaign-conversions", acq, "conversions"),
         _measure("campaign-conversion-rate", acq, "acquisition_conversion_rate", _percent(1)),
         _measure("campaign-revenue", acq, "acquisition_revenue", _number(2))],
        sort_by="campaign-sessions",
        rows=15,
        labels={"campaign-channel": "Channel", "campaign-source": "Source", "campaign-name": "Campaign",
                "campaign-sessions": "Sessions", "campaign-bounce-rate": "Bounce rate", "campaign-conversions": "Conversions",
                "campaign-conversion-rate": "Conversion", "campaign-revenue": "Revenue (selected currency)"},
    )  # fmt: skip
    return [channels, devices, campaigns]


def _engagement_visuals() -> list[dict]:
    eng, funnel = "engagement_daily", "session_funnel_daily"
    durations = _visual("ComboChartVisual", DURATIONS, {
        "FieldWells": {
            "ComboChartAggregatedFieldWells": {
                "Category": [_category("duration-bucket", eng, "duration_bucket")],
                "BarValues": [_sum("duration-sessions", eng, "sessions")],
                "LineValues": [_measure("duration-pages", eng, "pages_per_session", _number(2))],
            }
        },
        "SortConfiguration": {"CategorySort": [_by_column(eng, "bucket_order")]},
        # bars on the primary axis, the line on the secondary one (a combo chart's default)
        "SecondaryYAxisLabelOptions": {"Visibility": "VISIBLE", "AxisLabelOptions": [{"CustomLabel": "pages per session"}]},
        "Legend": {"Visibility": "VISIBLE", "Position": "BOTTOM"},
    })
    session_funnel = _visual("FunnelChartVisual", SESSION_FUNNEL, {
        "FieldWells": {
            "FunnelChartAggregatedFieldWells": {
                "Category": [_category("funnel-step", funnel, "event_type")],
                "Values": [_sum("funnel-step-sessions", funnel, "sessions")],
            }
        },
        "SortConfiguration": {"CategorySort": [_by_column(funnel, "step")]},
        "DataLabelOptions": {"Visibility": "VISIBLE", "MeasureDataLabelStyle": "VALUE_AND_PERCENTAGE_BY_FIRST_STAGE"},
    })
    dev = "devices_daily"
    browsers = _table(
        BROWSERS,
        [_category("browser-device", dev, "device_class"), _category("browser-name", dev, "browser"), _category("browser-os", dev, "os")],
        [_sum("browser-sessions", dev, "sessions"), _sum("browser-users", dev, "users"),
         _measure("browser-bounce-rate", dev, "devices_bounce_rate", _percent(1)), _sum("browser-conversions", dev, "conversions")],
        sort_by="browser-sessions",
        rows=15,
        labels={"browser-device": "Device", "browser-name": "Browser", "browser-os": "OS", "browser-sessions": "Sessions",
                "browser-users": "Users", "browser-bounce-rate": "Bounce rate", "browser-conversions": "Conversions"},
    )  # fmt: skip
    return [durations, session_funnel, browsers]


def _retention_visuals() -> list[dict]:
    ret = "retention_weekly"
    cohorts = _visual("HeatMapVisual", COHORTS, {
        "FieldWells": {
            "HeatMapAggregatedFieldWells": {
                "Rows": [{"DateDimensionField": {"FieldId": "cohort-week", "Column": _column(ret, "cohort_week"),
                                                 "DateGranularity": "WEEK"}}],
                "Columns": [{"NumericalDimensionField": {"FieldId": "cohort-weeks-since", "Column": _column(ret, "weeks_since")}}],
                "Values": [_measure("cohort-share", ret, "cohort_share", _percent(0))],
            }
        },
        "SortConfiguration": {
            "HeatMapRowSort": [_sort("cohort-week", "ASC")],
            "HeatMapColumnSort": [_sort("cohort-weeks-since", "ASC")],
            "HeatMapRowItemsLimitConfiguration": {"ItemsLimit": 104, "OtherCategories": "EXCLUDE"},
            "HeatMapColumnItemsLimitConfiguration": {"ItemsLimit": 104, "OtherCategories": "EXCLUDE"},
        },
        "RowLabelOptions": {"Visibility": "VISIBLE", "AxisLabelOptions": [{"CustomLabel": "Cohort (week of first visit)"}]},
        "ColumnLabelOptions": {"Visibility": "VISIBLE", "AxisLabelOptions": [{"CustomLabel": "Weeks since"}]},
        "ColorScale": {
            "ColorFillType": "GRADIENT",
            "Colors": [{"Color": "#EAF0FB", "DataValue": 0.0}, {"Color": "#2F6FDF", "DataValue": 1.0}],
        },
        "DataLabels": {"Visibility": "VISIBLE"},
        "Legend": {"Visibility": "VISIBLE", "Position": "RIGHT"},
    })  # fmt: skip
    return [cohorts]


def _paths_visuals() -> list[dict]:
    tr, pp = "page_transitions_daily", "purchase_paths_daily"
    transitions = _table(
        TRANSITIONS,
        [_category("transition-from", tr, "from_page"), _category("transition-to", tr, "to_page")],
        [_sum("transition-count", tr, "transitions"), _measure("transition-share", tr, "transition_share", _percent(1)),
         _sum("transition-sessions", tr, "sessions")],
        sort_by="transition-count",
        rows=20,
        labels={"transition-from": "From", "transition-to": "Next page", "transition-count": "Transitions",
                "transition-share": "Share", "transition-sessions": "Sessions"},
    )  # fmt: skip
    purchase_paths = _table(
        PURCHASE_PATHS,
        [_category("path", pp, "path")],
        [_sum("path-purchases", pp, "sessions"), _measure("path-share", pp, "path_share", _percent(1))],
        sort_by="path-purchases",
        rows=10,
        labels={"path": "Last pages before buying", "path-purchases": "Purchases", "path-share": "Share"},
    )
    return [transitions, purchase_paths]


SHEET_VISUALS = {
    SHEET_ID: _overview_visuals,
    "acquisition": _acquisition_visuals,
    "engagement": _engagement_visuals,
    "retention": _retention_visuals,
    "paths": _paths_visuals,
}


def _grid(rows: list[list[tuple[VisualSpec, int]]], heights: list[int]) -> list[dict]:
    """A 36-column grid, row by row: (visual, columns it spans) and each row's height."""
    elements, row_index = [], 0
    for row, height in zip(rows, heights):
        column = 0
        for spec, span in row:
            elements.append(
                {
                    "ElementId": spec.id,
                    "ElementType": "VISUAL",
                    "ColumnIndex": column,
                    "ColumnSpan": span,
                    "RowIndex": row_index,
                    "RowSpan": height,
                }  # fmt: skip
            )
            column += span
        row_index += height
    return [{"Configuration": {"GridLayout": {"Elements": elements}}}]


LAYOUTS = {  # sheet id -> the grid's rows and their heights
    SHEET_ID: (
        [
            [(KPI_EVENTS, 7), (KPI_SESSIONS, 7), (KPI_ORDERS, 7), (KPI_REVENUE, 8), (KPI_CONVERSION, 7)],
            [(EVENTS_BY_TYPE, 36)],
            [(REVENUE_TREND, 22), (FUNNEL, 14)],
            [(TOP_PAGES, 36)],
        ],
        [5, 12, 12, 14],
    ),
    "acquisition": ([[(CHANNELS, 22), (DEVICES, 14)], [(CAMPAIGNS, 36)]], [12, 15]),
    "engagement": ([[(DURATIONS, 22), (SESSION_FUNNEL, 14)], [(BROWSERS, 36)]], [12, 15]),
    "retention": ([[(COHORTS, 36)]], [18]),
    "paths": ([[(TRANSITIONS, 36)], [(PURCHASE_PATHS, 36)]], [18, 12]),
}


def _parameters(default_currency: str) -> list[dict]:
    return [
        {
            "DateTimeParameterDeclaration": {
                "Name": P_DATE_FROM,
                "TimeGranularity": "DAY",
                "DefaultValues": {
                    "RollingDate": {"Expression": f"addDateTime(-{DEFAULT_RANGE_DAYS}, 'DD', truncDate('DD', now()))"}
                },
            }
        },
        {
            "DateTimeParameterDeclaration": {
                "Name": P_DATE_TO,
                "TimeGranularity": "DAY",
                "DefaultValues": {"RollingDate": {"Expression": "truncDate('DD', now())"}},
            }
        },
        {
            "StringParameterDeclaration": {
                "ParameterValueType": "SINGLE_VALUED",
                "Name": P_CURRENCY,
                "DefaultValues": {"StaticValues": [default_currency]},
            }
        },
        {
            "StringParameterDeclaration": {
                "ParameterValueType": "SINGLE_VALUED",
                "Name": P_COHORT_MEASURE,
                "DefaultValues": {"StaticValues": [COHORT_MEASURES[0]]},
            }
        },
    ]


def _filter_groups() -> list[dict]:
    return [
        {
            # Every daily dataset has dt (a date): one date range for all of them, on every sheet that has
            # the From/To controls (retention_weekly has no dt: its sheet shows every loaded week).
            "FilterGroupId": "date-range",
            "CrossDataset": "ALL_DATASETS",
            "Status": "ENABLED",
            "ScopeConfiguration": _scope(None, DATE_RANGE_SHEETS),
            "Filters": [
                {
                    "TimeRangeFilter": {
                        "FilterId": "date-range-dt",
                        "Column": _column("daily_events", "dt"),
                        "NullOption": "NON_NULLS_ONLY",
                        "IncludeMinimum": True,
                        "IncludeMaximum": True,
                        "RangeMinimumValue": {"Parameter": P_DATE_FROM},
                        "RangeMaximumValue": {"Parameter": P_DATE_TO},
                        "TimeGranularity": "DAY",
                    }
                }
            ],
        },
        {
            "FilterGroupId": "event-types",
            "CrossDataset": "SINGLE_DATASET",
            "Status": "ENABLED",
            "ScopeConfiguration": _scope([KPI_EVENTS.id, EVENTS_BY_TYPE.id]),
            "Filters": [
                {
                    "CategoryFilter": {
                        "FilterId": "event-types-filter",
                        "Column": _column("daily_events", "event_type"),
                        "Configuration": {
                            "FilterListConfiguration": {"MatchOperator": "CONTAINS", "SelectAllOptions": "FILTER_ALL_VALUES"}
                        },
                    }
                }
            ],
        },
        {
            "FilterGroupId": "currency",
            "CrossDataset": "SINGLE_DATASET",
            "Status": "ENABLED",
            "ScopeConfiguration": _scope([KPI_REVENUE.id, REVENUE_TREND.id]),  # the campaigns' revenue: a calculated field
            "Filters": [
                {
                    "CategoryFilter": {
                        "FilterId": "currency-filter",
                        "Column": _column("revenue_daily", "currency"),
                        "Configuration": {
                            "CustomFilterConfiguration": {
                                "MatchOperator": "EQUALS",
                                "ParameterName": P_CURRENCY,
                                "NullOption": "NON_NULLS_ONLY",
                            }
                        },
                    }
                }
            ],
        },
    ]


def _controls(sheet: SheetSpec) -> tuple[list[dict], list[dict]]:
    """The sheet's parameter and filter controls (control ids are unique across the sheets)."""
    parameter_controls, filter_controls = [], []
    if sheet.date_range:
        parameter_controls += [
            {"DateTimePicker": {"ParameterControlId": f"{sheet.id}-date-from", "Title": "From", "SourceParameterName": P_DATE_FROM}},
            {"DateTimePicker": {"ParameterControlId": f"{sheet.id}-date-to", "Title": "To", "SourceParameterName": P_DATE_TO}},
        ]
    if sheet.currency:
        parameter_controls.append(
            {
                "Dropdown": {
                    "ParameterControlId": f"{sheet.id}-currency",
                    "Title": "Currency",
                    "SourceParameterName": P_CURRENCY,
                    "Type": "SINGLE_SELECT",
                    "SelectableValues": {"LinkToDataSetColumn": _column("revenue_daily", "currency")},
                }
            }
        )
    if sheet.id == "retention":
        parameter_controls.append(
            {
                "Dropdown": {
                    "ParameterControlId": "retention-measure",
                    "Title": "Cohort measure",
                    "SourceParameterName": P_COHORT_MEASURE,
                    "Type": "SINGLE_SELECT",
                    "SelectableValues": {"Values": list(COHORT_MEASURES)},
                }
            }
        )
    if sheet.id == SHEET_ID:
        filter_controls.append(
            {
                "Dropdown": {
                    "FilterControlId": "control-event-types",
                    "Title": "Event types",
                    "SourceFilterId": "event-types-filter",
                    "Type": "MULTI_SELECT",
                }
            }
        )
    return parameter_controls, filter_controls


def _sheet(sheet: SheetSpec) -> dict:
    parameter_controls, filter_controls = _controls(sheet)
    visuals = SHEET_VISUALS[sheet.id]()
    out = {
        "SheetId": sheet.id,
        "Name": sheet.name,
        "Title": sheet.title,
        "Visuals": visuals,
        "ParameterControls": parameter_controls,
        "Layouts": _grid(*LAYOUTS[sheet.id]),
        "ContentType": "INTERACTIVE",
    }
    if filter_controls:
        out["FilterControls"] = filter_controls
    return out


def dashboard_definition(data_set_arns: dict[str, str], *, default_currency: str = "USD") -> dict:
    """The ``Definition`` for create_dashboard/update_dashboard, given the ARN of each dataset used."""
    missing = [d for d in DATASETS_USED if d not in data_set_arns]
    if missing:
        raise ValueError(f"the dashboard needs datasets {', '.join(missing)}")
    return {
        "DataSetIdentifierDeclarations": [{"Identifier": d, "DataSetArn": data_set_arns[d]} for d in DATASETS_USED],
        "CalculatedFields": [{"DataSetIdentifier": ds, "Name": name, "Expression": expr} for ds, name, expr in CALCULATED_FIELDS],
        "ParameterDeclarations": _parameters(default_currency),
        "FilterGroups": _filter_groups(),
        "Sheets": [_sheet(sheet) for sheet in SHEETS],
        "AnalysisDefaults": {
            "DefaultNewSheetConfiguration": {
                "InteractiveLayoutConfiguration": {
                    "Grid": {"CanvasSizeOptions": {"ScreenCanvasSizeOptions": {"ResizeOption": "RESPONSIVE"}}}
                },
                "SheetContentType": "INTERACTIVE",
            }
        },
    }


def definition_digest(definition: dict, **extra) -> str:
    """A short, stable digest of what we publish: stored in the dashboard's version description, so an
    unchanged definition is not published again (QuickSight echoes definitions back normalized)."""
    blob = json.dumps({"definition": definition, **extra}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
