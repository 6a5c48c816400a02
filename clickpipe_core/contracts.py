"""The datasets' contracts: one source for the generator, the Glue jobs, the checks and the DDL.

Pure Python on purpose (no Dagster import): the Glue jobs import this module on Glue workers.

A contract lists the columns a clean row has, their logical types, and the rules a raw value must
pass. The jobs turn these rules into SQL (``clickpipe_core/cleaning.py``); every violated rule has a
stable *reason* string that lands in the quarantine zone next to the row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Money is kept exactly, as decimal(18, 2): 16 integer digits and the two decimals most currencies
# have. Every currency a contract allows must fit that scale (checked below, at import).
MONEY_PRECISION, MONEY_SCALE = 18, 2


@dataclass(frozen=True)
class LogicalType:
    """A logical type and what each target calls it. ``athena`` is also Spark SQL's spelling (the Glue
    catalog's types are Hive's, which both read); ``arrow`` builds the pyarrow type, imported only
    when asked for (the Lambda bundle has no pyarrow)."""

    name: str
    duckdb: str
    athena: str
    postgres: str
    _arrow: Callable = field(repr=False, compare=False)

    @property
    def arrow(self):
        import pyarrow as pa

        return self._arrow(pa)


def types_table(*types: LogicalType) -> dict[str, LogicalType]:
    return {t.name: t for t in types}


LOGICAL_TYPES = types_table(
    LogicalType("string", "VARCHAR", "string", "text", lambda pa: pa.string()),
    LogicalType(
        "money",
        f"DECIMAL({MONEY_PRECISION},{MONEY_SCALE})",
        f"decimal({MONEY_PRECISION},{MONEY_SCALE})",
        f"numeric({MONEY_PRECISION},{MONEY_SCALE})",
        lambda pa: pa.decimal128(MONEY_PRECISION, MONEY_SCALE),
    ),
    LogicalType("timestamp", "TIMESTAMPTZ", "timestamp", "timestamptz", lambda pa: pa.timestamp("us", tz="UTC")),
    LogicalType("date", "DATE", "date", "date", lambda pa: pa.date32()),
    LogicalType("flag", "BOOLEAN", "boolean", "boolean", lambda pa: pa.bool_()),
)


# The two time axes. Every record has an ingest day (the raw partition: the day a batch file was
# delivered or a Firehose object arrived) and an event day (the UTC date of its time column: the
# processed zone's dt= and the marts' day). A record may arrive up to LATE_WINDOW_DAYS days after its
# event day; Job 1 quarantines a later one (reason late_<column>), so the marts of event day E depend
# on the ingest days E .. E + LATE_WINDOW_DAYS only (ARCHITECTURE.md, rule 4).
LATE_WINDOW_DAYS = 1

# Re-delivery (ARCHITECTURE.md, rule 9). A key that more than one raw partition (ingest day, or one
# Firehose object read on its own) delivers is kept once in the processed zone, by the dataset's
# ``redelivery`` rule: "first" (the earliest delivery wins: at-least-once streams repeat events) or
# "newest" (the latest delivery wins: an extract re-delivers a transaction with its new status).
# Deliveries are compared within DEDUP_WINDOW_DAYS of arrival: a run looks up the keys of the raw
# partitions up to that many days before and after its own, never all history, so its cost does not
# grow with history. Two deliveries further apart are both kept (a late record beyond
# LATE_WINDOW_DAYS is quarantined anyway, so a repeated record with the same event time is always
# within the window).
DEDUP_WINDOW_DAYS = 2
REDELIVERY_RULES = ("first", "newest")


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    required: bool = True
    description: str = ""
    allowed: tuple[str, ...] | None = None  # closed set of values, after normalization
    pattern: str | None = None  # regular expression the (normalized) value must match fully
    min_value: float | None = None  # inclusive lower bound for money
    normalize: str | None = None  # "upper" | "lower"; values are always trimmed
    max_length: int | None = None
    require_zone: bool = False  # timestamps must say their offset (Z or +hh:mm)
    not_after_arrival: bool = False  # event times later than the record's arrival are rejected
    json_object: bool = False  # a free-form JSON object in NDJSON input, kept as its JSON text
    # Money only: the column holding this amount's ISO 4217 currency; the amount may have no more
    # decimals than that currency's minor units (trailing zeros aside).
    currency_column: str | None = None

    @property
    def logical_type(self) -> LogicalType:
        return LOGICAL_TYPES[self.type]

    def __post_init__(self):
        if self.type not in LOGICAL_TYPES:
            raise ValueError(f"column {self.name}: unknown logical type {self.type!r}")
        if self.currency_column and self.type != "money":
            raise ValueError(f"column {self.name}: only money has a currency column")


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: str
    raw_format: str  # "csv" | "ndjson"
    # Column whose UTC date decides the processed partition (dt=...); None for snapshots.
    partition_time_column: str | None = None
    # column -> (dataset, column) that must exist there
    references: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Contract columns that become directory levels after dt (``event_type=X/``), not file columns.
    partition_value_columns: tuple[str, ...] = ()
    # A key delivered by several raw partitions within DEDUP_WINDOW_DAYS: which delivery is kept
    # ("first" or "newest"; None: partitions are not compared).
    redelivery: str | None = None
    # A partition with a larger share of its records quarantined fails its quarantine_share check
    # (a blocking check: the marts wait); a file rejected whole always fails it.
    max_quarantine_share: float = 0.10
    # Columns Job 1 derives from the clean record (not read from raw input): written after the
    # lineage columns. Files written before a derived column existed lack it; readers fill NULL.
    derived_columns: tuple[Column, ...] = ()

    @property
    def dedup_across_partitions(self) -> bool:
        return self.redelivery is not None

    def __post_init__(self):
        if self.redelivery not in (None, *REDELIVERY_RULES):
            raise ValueError(f"{self.name}: redelivery must be one of {REDELIVERY_RULES}, not {self.redelivery!r}")
        for c in self.columns:
            if c.currency_column:
                currency = self.column(c.currency_column)
                if not currency.allowed:
                    raise ValueError(f"{self.name}.{c.currency_column}: a currency column needs its allowed set")
                too_fine = [code for code in currency.allowed if minor_units(code) > MONEY_SCALE]
                if too_fine:
                    raise ValueError(
                        f"{self.name}.{c.currency_column} allows {', '.join(too_fine)}, whose minor units exceed "
                        f"the {MONEY_SCALE} decimals money keeps: widen the money type (processed schema, Athena "
                        "tables, a mart migration) before allowing them"
                    )

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def money_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.type == "money"]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def partition_columns(self) -> list[str]:
        """Directory levels of the processed layout, outermost first: dt, then value columns."""
        return (["dt"] if self.partition_time_column else []) + list(self.partition_value_columns)

    @property
    def json_object_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.json_object]

    @property
    def derived_column_names(self) -> list[str]:
        return [c.name for c in self.derived_columns]

    @property
    def processed_columns(self) -> list[tuple[str, str]]:
        """(name, logical type) of a processed *file*: the contract minus directory-level columns,
        then lineage columns, then derived columns."""
        file_cols = [(c.name, c.type) for c in self.columns if c.name not in self.partition_value_columns]
        return file_cols + list(LINEAGE_COLUMNS) + [(c.name, c.type) for c in self.derived_columns]


# Text values may hold no C0 control character but tab, line feed and carriage return (the rule of
# XML 1.0's Char production): PostgreSQL text cannot store U+0000 at all, and the others are never
# data in these fields. A value that holds one is quarantined (control_character_<column>), never
# altered. A regular expression character class, in the syntax both engines' regex libraries read.
CONTROL_CHARACTERS = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"

# Every processed row says which raw partition it came from: this is what makes re-runs replace
# exactly their own output (ARCHITECTURE.md, rule 2).
LINEAGE_COLUMNS = (("ingest_date", "date"),)

# The quarantine zone's schema, the same for every dataset (the engines write it from this list).
QUARANTINE_COLUMNS = (
    ("reason", "string"),  # a stable code, e.g. invalid_amount
    ("detail", "string"),  # a human sentence
    ("source_file", "string"),
    ("source_line", "string"),  # line number in the raw file, when known
    ("record", "string"),  # the raw record as received (JSON of the fields, or the raw line)
    ("ingest_date", "date"),
)

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "INR", "BRL", "CAD", "AUD", "CHF", "SEK", "MXN", "ZAR")

# ISO 4217 minor units (decimal places) of every active code that does not have 2. An amount may
# have no more decimals than its currency has (12.345 USD and 100.5 JPY are quarantined, never
# rounded); trailing zeros are not precision (100.00 JPY is 100 JPY).
MINOR_UNITS_OTHER_THAN_2 = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                     "VND", "VUV", "XAF", "XOF", "XPF"), 0),  # fmt: skip
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_units(currency: str) -> int:
    """ISO 4217 minor units of a currency code (2 for any code not listed otherwise)."""
    return MINOR_UNITS_OTHER_THAN_2.get(currency, 2)

TRANSACTION_STATUSES = ("completed", "pending", "failed", "refunded")
PAYMENT_METHODS = ("card", "paypal", "bank_transfer", "apple_pay", "gift_card")
PLANS = ("free", "plus", "pro")

USERS = Dataset(
    name="users",
    description="Registered users; each users.csv is a full or partial extract, merged into the current snapshot.",
    key="user_id",
    raw_format="csv",
    columns=(
        Column("user_id", description="Stable user identifier", max_length=64),
        Column("full_name", description="Display name (any script)", max_length=200),
        Column(
            "email",
            required=False,
            normalize="lower",
            pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+",
            description="Contact e-mail, lower-cased",
        ),
        Column("country", normalize="upper", pattern=r"[A-Z]{2}", description="ISO 3166-1 alpha-2"),
        Column("signup_date", type="date", description="Date the account was created"),
        Column("plan", required=False, normalize="lower", allowed=PLANS, description="Subscription plan"),
    ),
)

TRANSACTIONS = Dataset(
    name="transactions",
    description="Payments from the daily transactions extract, one row per transaction.",
    key="transaction_id",
    raw_format="csv",
    partition_time_column="transaction_ts",
    references={"user_id": ("users", "user_id")},
    redelivery="newest",
    columns=(
        Column("transaction_id", description="Unique transaction identifier", max_length=64),
        Column("user_id", description="The paying user (must exist in users)", max_length=64),
        Column(
            "amount",
            type="money",
            min_value=0,
            currency_column="currency",
            description="Amount in `currency`, with at most that currency's ISO 4217 minor units of decimals",
        ),
        Column("currency", normalize="upper", allowed=CURRENCIES, description="ISO 4217 code"),
        Column("status", normalize="lower", allowed=TRANSACTION_STATUSES, description="Payment status"),
        Column("payment_method", required=False, normalize="lower", allowed=PAYMENT_METHODS),
        Column("transaction_ts", type="timestamp", description="When the payment happened (UTC)"),
    ),
)

# What Job 1 derives from a click (``clickpipe_core/enrichment.py`` holds the rules): the user agent
# parsed by ua-parser, and the acquisition of the event's page and referrer (channel by the rule table
# there). Every clean click gets a value in each but browser_version and medium (NULL when unknown).
ENRICHMENT_COLUMNS = (
    Column("browser", description="Browser family (ua-parser; Unknown for no user agent)"),
    Column("browser_version", required=False, description="Browser version, major[.minor]"),
    Column("os", description="Operating system family (ua-parser)"),
    Column("device_class", description="desktop, mobile, tablet, bot or unknown (from the user agent)"),
    Column("is_bot", type="flag", description="A crawler or automation client (the marts leave them out)"),
    Column("channel", description="Acquisition channel of the page and referrer: search, social, email, paid, referral, other, direct"),
    Column("source", description="utm_source, else the referrer's host, else (direct)"),
    Column("medium", required=False, description="utm_medium, when the page has one"),
    Column("campaign", description="utm_campaign, else (none)"),
)

EVENT_TYPES = ("page_view", "click", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase")
DEVICES = ("desktop", "mobile", "tablet")

CLICKS = Dataset(
    name="clicks",
    description="Click-stream events from the web and app, delivered by Firehose as gzip NDJSON.",
    key="event_id",
    raw_format="ndjson",
    partition_time_column="ts",
    partition_value_columns=("event_type",),
    redelivery="first",
    max_quarantine_share=0.05,
    derived_columns=ENRICHMENT_COLUMNS,
    columns=(
        Column(
            "event_id",
            normalize="lower",
            pattern=r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            description="UUID of the event; at-least-once delivery repeats it",
        ),
        Column("user_id", max_length=64, description="The user (from users)"),
        Column("session_id", max_length=64, description="Browsing session; events of a session share it"),
        Column("event_type", normalize="lower", allowed=EVENT_TYPES, description="What happened"),
        Column("page", max_length=2048, description="URL path of the page"),
        Column("referrer", required=False, max_length=2048, description="Referring URL"),
        Column("device", normalize="lower", allowed=DEVICES),
        Column("user_agent", required=False, max_length=1024),
        Column("country", normalize="upper", pattern=r"[A-Z]{2}", description="ISO 3166-1 alpha-2"),
        Column(
            "ts",
            type="timestamp",
            require_zone=True,
            not_after_arrival=True,
            description="Event time, ISO-8601 with its offset, stored in UTC",
        ),
        Column("properties", required=False, max_length=65536, json_object=True, description="Free-form JSON object, as text"),
    ),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (USERS, TRANSACTIONS, CLICKS)}
BATCH_DATASETS = ("users", "transactions")


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
