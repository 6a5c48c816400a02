"""The cleaning rules of Glue Job 1 as SQL, built from the contracts, for any engine.

An engine (DuckDB or Spark) loads the raw records as all-text columns into a relation
with two bookkeeping columns, ``__ord`` (input order across files) and ``__file``, and then runs
the SQL from ``classify_sql``: one row per input record with its typed values and either a
quarantine ``reason`` or NULL. Dedup (first occurrence wins) and the output projection are SQL too. Only ``Dialect`` differs
between engines, so the rules themselves exist once.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickpipe_core.contracts import CONTROL_CHARACTERS, LATE_WINDOW_DAYS, LOGICAL_TYPES, Column, Dataset, minor_units

DUPLICATE_REASON = "duplicate_key"
ISO_UTC_SPARK = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"

# Text that may be cast to each logical type. The guard keeps the engines' casts on the same
# inputs: DuckDB and Spark accept different exotic spellings (e.g. '1e3' or '+5' for numbers; for
# times DuckDB also takes hour 24, 'hh:mm' followed by an offset, offsets beyond +-18:00 and year
# 0, which Spark rejects). So a time needs its seconds, hours run 00-23, offsets stay within
# +-18:00 and years within 0001-9999; anything else is invalid in both engines.
_YEAR = "([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_DAY = _YEAR + "-[0-9]{2}-[0-9]{2}"
_OFFSET = "(Z|[+-](0[0-9]|1[0-7]):?[0-5][0-9]|[+-]18:?00)"
TYPE_GUARDS = {
    "money": r"-?[0-9]{1,16}(\.[0-9]+)?",
    "date": _DAY,
    "timestamp": _DAY + r"([T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?)?" + _OFFSET + "?",
}


def sql_string(value: str) -> str:
    """A SQL string literal (values in rules come from the contract, but quote them properly anyway)."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Dialect:
    """The few spellings that differ between the engines (DuckDB 2.0, Spark SQL 3.5 with ANSI mode
    off and the session time zone UTC). Everything else in this module is SQL both run alike."""

    name: str

    def _type(self, logical_type: str) -> str:
        return LOGICAL_TYPES[logical_type][1 if self.name == "duckdb" else 2]

    def literal(self, value: str) -> str:
        """A string literal. Spark SQL reads backslash escapes in literals (and '' is not a quote)."""
        if self.name == "spark":
            return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
        return sql_string(value)

    def full_match(self, expr: str, pattern: str) -> str:
        if self.name == "duckdb":  # RE2; '.' stops at \n only
            return f"regexp_full_match({expr}, {self.literal(pattern)})"
        # Java regex with find(): anchored at both ends (\z, because '$' also matches before a
        # final newline) and UNIX_LINES (?d), so that '.' stops at \n only, as in RE2.
        return f"({expr} RLIKE {self.literal('(?d)^(?:' + pattern + ')' + chr(92) + 'z')})"

    def contains_match(self, expr: str, pattern: str) -> str:
        """``expr`` has a match of ``pattern`` anywhere (no anchors)."""
        if self.name == "duckdb":
            return f"regexp_matches({expr}, {self.literal(pattern)})"
        return f"({expr} RLIKE {self.literal(pattern)})"

    def char_code(self, expr: str) -> str:
        """The code point of the first character of ``expr``."""
        return f"unicode({expr})" if self.name == "duckdb" else f"ascii({expr})"

    def try_cast(self, expr: str, logical_type: str) -> str:
        # With ANSI mode off Spark's CAST gives NULL too; TRY_CAST says what we mean in both.
        return f"TRY_CAST({expr} AS {self._type(logical_type)})"

    def utc_date(self, expr: str) -> str:
        return f"CAST({expr} AS DATE)"  # the session time zone is UTC in both engines

    def cast(self, expr: str, logical_type: str) -> str:
        return f"CAST({expr} AS {self._type(logical_type)})"

    def text(self, expr: str, logical_type: str) -> str:
        """A typed value as text, spelled alike by both engines (timestamps: ISO-8601 in UTC)."""
        if logical_type == "timestamp":
            if self.name == "duckdb":
                return f"strftime({expr}, '%Y-%m-%dT%H:%M:%S.%fZ')"
            return f"date_format({expr}, {self.literal(ISO_UTC_SPARK)})"
        return expr if logical_type == "string" else self.cast(expr, "string")

    def not_in_keys(self, expr: str, table: str) -> str:
        """``expr`` (never NULL here) is not among the ``key`` column of ``table``.

        Spark plans NOT IN as a null-aware nested-loop join (rows x keys); NOT EXISTS with an
        equality is a hash join. DuckDB plans NOT IN as a hash join already.
        """
        if self.name == "spark":
            return f"NOT EXISTS (SELECT 1 FROM {table} WHERE {table}.key = {expr})"
        return f"{expr} NOT IN (SELECT key FROM {table})"

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        """A JSON object from (name, text expression) pairs; NULL values are written as null."""
        if self.name == "duckdb":
            return "to_json(struct_pack(" + ", ".join(f"{n} := {e}" for n, e in pairs) + "))"
        inner = ", ".join(f"{self.literal(n)}, {e}" for n, e in pairs)
        return f"to_json(named_struct({inner}), map('ignoreNullFields', 'false'))"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")


def _normalized(col: Column) -> str:
    expr = f"NULLIF(TRIM({col.name}), '')"
    if col.normalize == "upper":
        expr = f"UPPER({expr})"
    elif col.normalize == "lower":
        expr = f"LOWER({expr})"
    return expr


def column_rules(ds: Dataset, col: Column, d: Dialect) -> list[tuple[str, str, str]]:
    """(condition, reason, detail expression) for one column of ``ds``, in the order they are tried.

    Conditions read the normalized text ``n_<col>`` and the typed value ``t_<col>``.
    """
    n, t = f"n_{col.name}", f"t_{col.name}"
    shown = f"COALESCE({n}, '')"
    rules = []
    if col.required:
        rules.append((f"{n} IS NULL", f"missing_{col.name}", d.literal(f"{col.name} is required")))
    if col.type == "string":
        rules.append(control_character_rule(col, d))
    if col.max_length:
        rules.append(
            (
                f"length({n}) > {col.max_length}",
                f"too_long_{col.name}",
                d.literal(f"{col.name} longer than {col.max_length} characters"),
            )
        )
    if col.currency_column:  # before the type's rule: a cast would round (or overflow) the excess
        rules.append(precision_rule(col, ds.column(col.currency_column).allowed, d))
    if col.type in TYPE_GUARDS:
        rules.append(
            (
                f"{n} IS NOT NULL AND (NOT {d.full_match(n, TYPE_GUARDS[col.type])} OR {t} IS NULL)",
                f"invalid_{col.name}",
                f"concat({d.literal(f'{col.name} is not a valid {col.type}: ')}, {shown})",
            )
        )
    if col.require_zone:
        rules.append(
            (
                f"{n} IS NOT NULL AND NOT {d.full_match(n, '.*(Z|[+-][0-9]{2}:?[0-9]{2})')}",
                f"no_timezone_{col.name}",
                f"concat({d.literal(f'{col.name} has no time zone: ')}, {shown})",
            )
        )
    if col.not_after_arrival:
        rules.append(
            (
                f"{t} > __not_after",
                f"future_{col.name}",
                f"concat({d.literal(f'{col.name} is later than the record arrived: ')}, {shown})",
            )
        )
    if col.pattern:
        rules.append(
            (
                f"{n} IS NOT NULL AND NOT {d.full_match(n, col.pattern)}",
                f"invalid_{col.name}",
                f"concat({d.literal(f'{col.name} has an invalid format: ')}, {shown})",
            )
        )
    if col.allowed:
        allowed = ", ".join(d.literal(v) for v in col.allowed)
        rules.append(
            (
                f"{n} IS NOT NULL AND {n} NOT IN ({allowed})",
                f"not_allowed_{col.name}",
                f"concat({d.literal(f'{col.name} not in the allowed set: ')}, {shown})",
            )
        )
    if col.min_value is not None:
        rules.append(
            (
                f"{t} < {col.min_value}",
                "negative_" + col.name if col.min_value == 0 else f"below_min_{col.name}",
                f"concat({d.literal(f'{col.name} below {col.min_value}: ')}, {shown})",
            )
        )
    return rules


ANY_CONTROL = "__any_control"  # the record-level flag of any_control_character


def control_character_rule(col: Column, d: Dialect) -> tuple[str, str, str]:
    """Text holding a control character PostgreSQL cannot store or the contract does not allow
    (``contracts.CONTROL_CHARACTERS``); the detail names the first one and its position, not the text."""
    n = f"n_{col.name}"
    clean_prefix = f"length(regexp_extract({n}, {d.literal('^[^' + CONTROL_CHARACTERS[1:-1] + ']*')}, 0))"
    code = d.char_code(f"substr({n}, {clean_prefix} + 1, 1)")
    detail = (
        f"concat({d.literal(f'{col.name} holds control character U+')}, lpad(upper(hex({code})), 4, '0'), "
        f"{d.literal(' at character ')}, {d.cast(clean_prefix + ' + 1', 'string')})"
    )
    return (
        f"{ANY_CONTROL} AND {n} IS NOT NULL AND {d.contains_match(n, CONTROL_CHARACTERS)}",
        f"control_character_{col.name}",
        detail,
    )


def any_control_character(ds: Dataset, d: Dialect) -> str:
    """Whether any text field of the record holds a control character: one match over the record
    instead of one per field, so that clean records (nearly all) pay once."""
    texts = [f"n_{c.name}" for c in ds.columns if c.type == "string"]
    return d.contains_match(f"concat_ws('', {', '.join(texts)})", CONTROL_CHARACTERS) if texts else "false"


def precision_rule(col: Column, currencies: tuple[str, ...], d: Dialect) -> tuple[str, str, str]:
    """An amount with more decimals than its currency's ISO 4217 minor units (beyond trailing zeros)
    is quarantined, never rounded. Only for allowed currencies: others fail their own rule."""
    n, currency = f"n_{col.name}", f"n_{col.currency_column}"
    by_units: dict[int, list[str]] = {}
    for code in currencies:
        by_units.setdefault(minor_units(code), []).append(code)
    fails, units = [], []
    for k, codes in sorted(by_units.items()):
        listed = ", ".join(d.literal(c) for c in codes)
        # a digit other than 0 after the k-th decimal (the integer part as the money type allows)
        too_fine = r"-?[0-9]{1,16}\.[0-9]{%d}0*[1-9][0-9]*" % k
        fails.append(f"({currency} IN ({listed}) AND {d.full_match(n, too_fine)})")
        units.append(f"WHEN {currency} IN ({listed}) THEN {d.literal(str(k))}")
    shown = f"COALESCE({n}, '')"
    detail = (
        f"concat({d.literal(f'{col.name} has more decimals than ')}, {currency}, {d.literal(' allows (')}, "
        f"CASE {' '.join(units)} END, {d.literal('): ')}, {shown})"
    )
    return f"{n} IS NOT NULL AND ({' OR '.join(fails)})", f"too_precise_{col.name}", detail


def classify_sql(
    ds: Dataset,
    d: Dialect,
    *,
    source: str = "src",
    reference_tables: dict[str, str] | None = None,
    explain: bool = False,
    carry: tuple[str, ...] = ("__ord", "__file"),
    pre_checked: bool = False,
    not_before: str | None = None,
) -> str:
    """SQL over ``source`` (the ``carry`` bookkeeping columns and the raw text columns): every
    record, typed, with the first rule it fails as ``reason`` (NULL when clean) and, for failed
    records only, the raw text.

    With ``explain`` the result also has ``detail`` (a sentence); engines ask for that only for
    the few failed records, which keeps the hot path lean. With ``pre_checked`` the source has
    ``__pre_reason``/``__pre_detail`` from parsing (e.g. malformed JSON), which come first.
    ``carry`` may include ``__not_after`` (the record's arrival, for ``not_after_arrival``) and
    ``__record`` (the raw record, kept for failed records).
    ``reference_tables`` maps a referencing column to a relation with one column ``key``.
    ``not_before`` (``job1.late_bound``): a record whose event time is earlier is later than the
    contract's late window allows (reason ``late_<column>``).
    """
    normalized = ",\n    ".join(f"{_normalized(c)} AS n_{c.name}" for c in ds.columns)
    typed = ", ".join(
        (d.try_cast(f"n_{c.name}", c.type) if c.type != "string" else f"n_{c.name}") + f" AS t_{c.name}"
        for c in ds.columns
    )
    whens = [("__pre_reason IS NOT NULL", "__pre_reason", "__pre_detail")] if pre_checked else []
    for c in ds.columns:
        whens += column_rules(ds, c, d)
        if not_before and c.name == ds.partition_time_column:
            days = "day" if LATE_WINDOW_DAYS == 1 else "days"
            whens.append(
                (
                    f"t_{c.name} < {d.cast(d.literal(not_before), 'timestamp')}",
                    f"late_{c.name}",
                    f"concat({d.literal(f'{c.name} is more than {LATE_WINDOW_DAYS} {days} before its ingest day (the late window): ')}, n_{c.name})",
                )
            )
    for column, table in (reference_tables or {}).items():
        target = ds.references[column]
        whens.append(
            (
                f"n_{column} IS NOT NULL AND {d.not_in_keys(f'n_{column}', table)}",
                f"unknown_{column}",
                f"concat({d.literal(f'{column} not found in {target[0]}.{target[1]}: ')}, n_{column})",
            )
        )
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {r if r == '__pre_reason' else d.literal(r)}" for cond, r, _ in whens) + " END"
    raw_text = [*ds.column_names, *(c for c in carry if c == "__record")]
    raw_text += ["__pre_reason", "__pre_detail"] if pre_checked else []
    carried = [c for c in carry if c != "__record"]
    outputs = [*carried, *(f"t_{c.name}" for c in ds.columns), "reason"]
    if explain:
        outputs.append("CASE " + " ".join(f"WHEN {cond} THEN {det}" for cond, _, det in whens) + " END AS detail")
        outputs += [c for c in raw_text if not c.startswith("__pre_")]
    else:  # keep the raw text of failed records only (NULL costs next to nothing)
        outputs += [f"CASE WHEN reason IS NOT NULL THEN {c} END AS {c}" for c in raw_text]
    raw = ", ".join(raw_text)
    carry = tuple(carried)
    return f"""
WITH normalized AS (
  SELECT {", ".join(carry)}, {raw},
    {normalized}
  FROM {source}
), typed AS (
  SELECT *, {typed}, {any_control_character(ds, d)} AS {ANY_CONTROL} FROM normalized
), checked AS (
  SELECT *, {reason} AS reason FROM typed
)
SELECT {", ".join(outputs)} FROM checked
"""


def first_of_duplicates_sql(ds: Dataset, classified: str) -> str:
    """Keys that occur more than once among clean records, with the first occurrence (input order).

    A hash aggregate, not a window over every record: duplicates are rare, so this is cheap.
    """
    return f"""
SELECT t_{ds.key} AS key, min(__ord) AS first_ord FROM {classified}
WHERE reason IS NULL GROUP BY t_{ds.key} HAVING count(*) > 1
"""


def duplicate_rows_sql(ds: Dataset, classified: str, firsts: str) -> str:
    """Clean records whose key was seen earlier in the input: dropped, and kept in quarantine."""
    return f"""
SELECT c.* FROM {classified} c JOIN {firsts} f ON c.t_{ds.key} = f.key
WHERE c.reason IS NULL AND c.__ord <> f.first_ord
"""


def clean_rows_sql(classified: str, duplicates: str) -> str:
    """Records that passed every rule, minus the (few) duplicates: an anti-join on a small table."""
    return f"SELECT * FROM {classified} WHERE reason IS NULL AND __ord NOT IN (SELECT __ord FROM {duplicates})"


def clean_projection(ds: Dataset, d: Dialect, ingest_date: str) -> str:
    """The processed columns, typed exactly as the contract says, plus lineage (and dt)."""
    cols = [d.cast(f"t_{c.name}", c.type) + f" AS {c.name}" for c in ds.columns]
    cols.append(f"{d.cast(d.literal(ingest_date), 'date')} AS ingest_date")
    if ds.partition_time_column:
        cols.append(d.cast(d.utc_date("t_" + ds.partition_time_column), "string") + " AS dt")
    return ", ".join(cols)


def raw_record(ds: Dataset, d: Dialect) -> str:
    """A failed CSV record as quarantined: a JSON object of its raw text fields."""
    return d.json_object([(c, c) for c in ds.column_names])


def typed_record(ds: Dataset, d: Dialect) -> str:
    """A dropped duplicate as quarantined: a JSON object of its typed values, as text."""
    return d.json_object([(c.name, d.text(f"t_{c.name}", c.type)) for c in ds.columns])
