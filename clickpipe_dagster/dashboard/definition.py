"""The dashboard, defined once: its visuals, and the QuickSight ``Definition`` built from them.

One sheet, top to bottom:

- KPI tiles: events, sessions, orders, revenue in the selected currency, conversion (view → purchase)
- events per day, one line per event type
- revenue per day in the selected currency | the session funnel (sessions → viewed → carted → purchased)
- top pages over the selected days

Controls: a date range (From/To, applies to every visual: all four daily datasets have ``dt``), an
event-type filter (the events tile and chart), and a currency (the revenue tile and chart; amounts
are never converted between currencies).

The local page (``page.py``) draws the same visuals with the same ids and titles from ``VISUALS``, and
four more pages (Acquisition, Engagement, Retention, Paths) from ``ANALYTICS_VISUALS`` over the
sessionized marts; those are not QuickSight sheets yet.
This module is pure data (no AWS call): ``dashboard_definition(arns)`` returns the ``Definition``
for ``create_dashboard``/``update_dashboard``; botocore validates it against the API model in the
tests, and ``tests/test_quicksight.py`` checks every field it names exists in its dataset.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

SHEET_ID = "overview"
DATASETS_USED = ("daily_events", "funnel_daily", "revenue_daily", "top_pages_daily")

# Parameter names: letters and digits only (QuickSight's rule).
P_DATE_FROM, P_DATE_TO, P_CURRENCY = "DateFrom", "DateTo", "Currency"
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

# The analytics pages of the local dashboard (Acquisition, Engagement, Retention, Paths), over the
# sessionized marts. Not QuickSight sheets yet: the Definition above is the Overview sheet only.
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


def _kpi(spec: VisualSpec, value: dict) -> dict:
    return {
        "KPIVisual": {
            "VisualId": spec.id,
            "Title": _title(spec),
            "Subtitle": _subtitle(spec),
            "ChartConfiguration": {
                "FieldWells": {"Values": [value]},
                "KPIOptions": {"PrimaryValueDisplayType": "ACTUAL"},
            },
        }
    }


def _scope(visual_ids: list[str] | None) -> dict:
    if visual_ids is None:
        conf = {"SheetId": SHEET_ID, "Scope": "ALL_VISUALS"}
    else:
        conf = {"SheetId": SHEET_ID, "Scope": "SELECTED_VISUALS", "VisualIds": visual_ids}
    return {"SelectedSheets": {"SheetVisualScopingConfigurations": [conf]}}


# -- the visuals -----------------------------------------------------------------------------------------


def _visuals() -> list[dict]:
    conversion = {
        "NumericalMeasureField": {
            "FieldId": "conversion",
            "Column": _column("funnel_daily", "conversion"),  # an aggregated calculated field (below)
            "FormatConfiguration": _percent(1),
        }
    }
    events_by_type = {
        "LineChartVisual": {
            "VisualId": EVENTS_BY_TYPE.id,
            "Title": _title(EVENTS_BY_TYPE),
            "ChartConfiguration": {
                "FieldWells": {
                    "LineChartAggregatedFieldWells": {
                        "Category": [_day("events-day", "daily_events")],
                        "Values": [_sum("events-sum", "daily_events", "events")],
                        "Colors": [_category("events-type", "daily_events", "event_type")],
                    }
                },
                "Type": "LINE",
                "Legend": {"Visibility": "VISIBLE", "Position": "RIGHT"},
            },
        }
    }
    revenue_trend = {
        "LineChartVisual": {
            "VisualId": REVENUE_TREND.id,
            "Title": _title(REVENUE_TREND),
            "Subtitle": _subtitle(REVENUE_TREND),
            "ChartConfiguration": {
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
                "Series": [
                    {
                        "FieldSeriesItem": {
                            "FieldId": "revenue-orders",
                            "AxisBinding": "SECONDARY_YAXIS",
                        }
                    }
                ],
                "Legend": {"Visibility": "VISIBLE", "Position": "BOTTOM"},
            },
        }
    }
    funnel = {
        "BarChartVisual": {
            "VisualId": FUNNEL.id,
            "Title": _title(FUNNEL),
            "Subtitle": _subtitle(FUNNEL),
            "ChartConfiguration": {
                "FieldWells": {
                    "BarChartAggregatedFieldWells": {
                        "Values": [_sum(f"funnel-{col}", "funnel_daily", col) for col, _ in FUNNEL_STEPS],
                    }
                },
                "Orientation": "HORIZONTAL",
                "BarsArrangement": "CLUSTERED",
                "DataLabels": {"Visibility": "VISIBLE"},
                "Legend": {"Visibility": "VISIBLE", "Position": "BOTTOM"},
            },
        }
    }
    top_pages = {
        "TableVisual": {
            "VisualId": TOP_PAGES.id,
            "Title": _title(TOP_PAGES),
            "Subtitle": _subtitle(TOP_PAGES),
            "ChartConfiguration": {
                "FieldWells": {
                    "TableAggregatedFieldWells": {
                        "GroupBy": [_category("top-page", "top_pages_daily", "page")],
                        "Values": [
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
                    }
                },
                "SortConfiguration": {
                    "RowSort": [{"FieldSort": {"FieldId": "top-views", "Direction": "DESC"}}],
                    "PaginationConfiguration": {"PageSize": 15, "PageNumber": 1},
                },
                "FieldOptions": {
                    "SelectedFieldOptions": [
                        {"FieldId": "top-page", "CustomLabel": "Page"},
                        {"FieldId": "top-views", "CustomLabel": "Views"},
                        {"FieldId": "top-sessions", "CustomLabel": "Sessions"},
                        {"FieldId": "top-days", "CustomLabel": "Days in top 50"},
                        {"FieldId": "top-best-rank", "CustomLabel": "Best rank"},
                    ]
                },
            },
        }
    }
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


def _layout() -> list[dict]:
    """A 36-column grid: the KPI row, the events chart, revenue | funnel, the top-pages table."""
    rows = [
        [(KPI_EVENTS, 7), (KPI_SESSIONS, 7), (KPI_ORDERS, 7), (KPI_REVENUE, 8), (KPI_CONVERSION, 7)],
        [(EVENTS_BY_TYPE, 36)],
        [(REVENUE_TREND, 22), (FUNNEL, 14)],
        [(TOP_PAGES, 36)],
    ]
    heights = [5, 12, 12, 14]
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
    ]


def _filter_groups() -> list[dict]:
    return [
        {
            # Every daily dataset has dt: one date range for all of them.
            "FilterGroupId": "date-range",
            "CrossDataset": "ALL_DATASETS",
            "Status": "ENABLED",
            "ScopeConfiguration": _scope(None),
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
            "ScopeConfiguration": _scope([KPI_REVENUE.id, REVENUE_TREND.id]),
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


def _controls() -> tuple[list[dict], list[dict]]:
    parameter_controls = [
        {"DateTimePicker": {"ParameterControlId": "control-date-from", "Title": "From", "SourceParameterName": P_DATE_FROM}},
        {"DateTimePicker": {"ParameterControlId": "control-date-to", "Title": "To", "SourceParameterName": P_DATE_TO}},
        {
            "Dropdown": {
                "ParameterControlId": "control-currency",
                "Title": "Currency",
                "SourceParameterName": P_CURRENCY,
                "Type": "SINGLE_SELECT",
                "SelectableValues": {"LinkToDataSetColumn": _column("revenue_daily", "currency")},
            }
        },
    ]
    filter_controls = [
        {
            "Dropdown": {
                "FilterControlId": "control-event-types",
                "Title": "Event types",
                "SourceFilterId": "event-types-filter",
                "Type": "MULTI_SELECT",
            }
        }
    ]
    return parameter_controls, filter_controls


def dashboard_definition(data_set_arns: dict[str, str], *, default_currency: str = "USD") -> dict:
    """The ``Definition`` for create_dashboard/update_dashboard, given the ARN of each dataset used."""
    missing = [d for d in DATASETS_USED if d not in data_set_arns]
    if missing:
        raise ValueError(f"the dashboard needs datasets {', '.join(missing)}")
    parameter_controls, filter_controls = _controls()
    return {
        "DataSetIdentifierDeclarations": [{"Identifier": d, "DataSetArn": data_set_arns[d]} for d in DATASETS_USED],
        "CalculatedFields": [
            {
                "DataSetIdentifier": "funnel_daily",
                "Name": "conversion",
                "Expression": "sum({purchase_sessions}) / sum({viewed_sessions})",
            }
        ],
        "ParameterDeclarations": _parameters(default_currency),
        "FilterGroups": _filter_groups(),
        "Sheets": [
            {
                "SheetId": SHEET_ID,
                "Name": "Overview",
                "Title": "clickpipe: clicks, funnel and revenue",
                "Visuals": _visuals(),
                "ParameterControls": parameter_controls,
                "FilterControls": filter_controls,
                "Layouts": _layout(),
                "ContentType": "INTERACTIVE",
            }
        ],
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
