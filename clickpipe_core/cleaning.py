"""The cleaning rules of Glue Job 1 as SQL, built from the contracts, for any engine.

An engine (DuckDB or Spark) reads the raw records as all-text columns into a relation with two
bookkeeping columns, ``__ord`` (input order: the object's index in the run shifted left by
``ORD_BITS``, plus the record's position in the object) and ``__fidx`` (the object's index), and
runs the SQL of ``classify_sql``: one row per input record with its typed values and either a
quarantine ``reason`` or NULL. Dedup (first occurrence wins within a partition; across
partitions by the dataset's redelivery rule, with its dedup state), record numbers, the quarantine
rows, the newest-snapshot-wins merge and the output projection are SQL here too. Only ``Dialect`` differs between engines, so every rule exists once.
"""

from __future__ import annotations

import re

from clickpipe_core.contracts import CONTROL_CHARACTERS, LATE_WINDOW_DAYS, QUARANTINE_COLUMNS, Column, Dataset, minor_units
from clickpipe_core.dialect import Dialect

DUPLICATE_REASON = "duplicate_key"
ORD_BITS = 40  # __ord = object index << ORD_BITS | position in the object
# The UTC day of a record's partition time column, kept by the classification: the output's dt is
# this column, not an expression, so that an engine writing one partition at a time filters its
# scan of the working table by it (and reads the other columns of that partition's rows only).
PARTITION_DAY = "__dt"
WITHIN_PARTITION = "seen before in this partition"
# Why a record lost to another raw partition's delivery of its key, by the dataset's redelivery rule.
REDELIVERED = {"first": "already delivered by ingest_date ", "newest": "superseded by ingest_date "}

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




def _normalized(col: Column, d: Dialect) -> str:
    expr = f"NULLIF({d.trim(col.name)}, '')"
    if col.normalize == "upper":
        expr = f"UPPER({expr})"
    elif col.normalize == "lower":
        expr = f"LOWER({expr})"
    return expr


def column_rules(ds: Dataset, col: Column, d: Dialect) -> list[tuple[str, str, str]]:
    """(condition, reason, detail expression) for one column of ``ds``, in the order they are tried.

    Conditions read the normalized text ``n_<col>``, the typed value ``t_<col>`` and, for a column
    with an allowed set, whether the text is in it (``allowed_flag``).
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
        rules.append(
            (
                f"{n} IS NOT NULL AND NOT {allowed_flag(col)}",
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


def allowed_flag(col: Column) -> str:
    """The column of a record that says whether ``col``'s text is in its allowed set (NULL when there
    is no text): computed once per record (``allowed_flags``) for the rules that ask, not once per rule."""
    return f"__allowed_{col.name}"


def allowed_flags(ds: Dataset, d: Dialect) -> list[str]:
    """The ``allowed_flag`` columns of ``ds``'s columns with an allowed set, as SELECT items."""
    return [f"n_{c.name} IN ({', '.join(d.literal(v) for v in c.allowed)}) AS {allowed_flag(c)}" for c in ds.columns if c.allowed]


def control_character_rule(col: Column, d: Dialect) -> tuple[str, str, str]:
    """Text holding a control character PostgreSQL cannot store or the contract does not allow
    (``contracts.CONTROL_CHARACTERS``); the detail names the first one and its position, not the text.

    Only records that may hold one are searched: for a column with an allowed set, its values
    outside the set (no allowed value holds a control character); for the others, records whose
    ``any_control_character`` flag is set."""
    n = f"n_{col.name}"
    clean_prefix = f"length(regexp_extract({n}, {d.literal('^[^' + CONTROL_CHARACTERS[1:-1] + ']*')}, 0))"
    code = d.char_code(f"substr({n}, {clean_prefix} + 1, 1)")
    detail = (
        f"concat({d.literal(f'{col.name} holds control character U+')}, lpad(upper(hex({code})), 4, '0'), "
        f"{d.literal(' at character ')}, {d.cast(clean_prefix + ' + 1', 'string')})"
    )
    if col.allowed:
        assert not any(re.search(CONTROL_CHARACTERS, v) for v in col.allowed), f"{col.name}: an allowed value holds a control character"
        may_hold = f"NOT {allowed_flag(col)}"
    else:
        may_hold = ANY_CONTROL
    return (
        f"{may_hold} AND {n} IS NOT NULL AND {d.contains_match(n, CONTROL_CHARACTERS)}",
        f"control_character_{col.name}",
        detail,
    )


def any_control_character(ds: Dataset, d: Dialect, raw_line: str | None = None) -> str:
    """Whether a text field without an allowed set may hold a control character: one match over
    the record instead of one per field, so that clean records (nearly all) pay once.

    ``raw_line`` (a JSON-lines record's raw line): a JSON string holds a control character only as
    an escape (``\\u0001``, ``\\b``, ``\\f``; a raw one makes the line malformed in both engines'
    parsers), so a line without a backslash holds none and is not searched."""
    texts = [f"n_{c.name}" for c in ds.columns if c.type == "string" and not c.allowed]
    if not texts:
        return "false"
    match = d.contains_match(f"concat_ws('', {', '.join(texts)})", CONTROL_CHARACTERS)
    if raw_line is None:
        return match
    return f"CASE WHEN contains({raw_line}, {d.literal(chr(92))}) THEN {match} ELSE false END"


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
        fails.append(f"({currency} IN ({listed}) AND {d.full_match(n, too_fine(k))})")
        units.append(f"WHEN {currency} IN ({listed}) THEN {d.literal(str(k))}")
    shown = f"COALESCE({n}, '')"
    detail = (
        f"concat({d.literal(f'{col.name} has more decimals than ')}, {currency}, {d.literal(' allows (')}, "
        f"CASE {' '.join(units)} END, {d.literal('): ')}, {shown})"
    )
    return f"{n} IS NOT NULL AND ({' OR '.join(fails)})", f"too_precise_{col.name}", detail


def too_fine(minor_units: int) -> str:
    """An amount's text with a digit other than 0 after the ``minor_units``-th decimal (the integer
    part as the money type allows): the pattern of ``precision_rule``."""
    return r"-?[0-9]{1,16}\.[0-9]{%d}0*[1-9][0-9]*" % minor_units


def late_rule(ds: Dataset, d: Dialect, not_before: str) -> tuple[str, str, str]:
    """A record whose event time is earlier than ``not_before`` (``job1.late_bound``) arrived later
    than the contract's late window allows."""
    c = ds.partition_time_column
    days = "day" if LATE_WINDOW_DAYS == 1 else "days"
    return (
        f"t_{c} < {d.cast(d.literal(not_before), 'timestamp')}",
        f"late_{c}",
        f"concat({d.literal(f'{c} is more than {LATE_WINDOW_DAYS} {days} before its ingest day (the late window): ')}, n_{c})",
    )


# -- JSON records (NDJSON) --------------------------------------------------------------------------
# A reader of JSON lines gives, with each line, the facts these rules need: ``__jt``, the JSON type
# of the whole line (NULL when it is not JSON), and ``__jt_<column>``, the JSON type of each field
# (NULL when absent), spelled as DuckDB's json_type does (OBJECT, ARRAY, VARCHAR, UBIGINT, BIGINT,
# DOUBLE, BOOLEAN, NULL); the field's text is the column itself (for a free-form JSON object
# column: the object's JSON text, NULL for anything else).
def json_fact_columns(ds: Dataset) -> list[str]:
    return ["__jt", *(f"__jt_{c}" for c in ds.column_names)]


def json_rules(ds: Dataset, d: Dialect) -> list[tuple[str, str, str]]:
    """(condition, reason, detail expression) of the JSON-level checks, in the order they are tried."""
    rules = [
        ("__jt IS NULL", "malformed_json", d.literal("not a JSON document")),
        ("__jt <> 'OBJECT'", "not_an_object", "concat('a JSON ', lower(__jt), ' instead of an object')"),
    ]
    for c in ds.columns:
        allowed, kind = (("OBJECT", "NULL"), "object") if c.json_object else (("VARCHAR", "NULL"), "string")
        rules.append(
            (
                f"__jt_{c.name} NOT IN ({', '.join(d.literal(a) for a in allowed)})",
                f"wrong_type_{c.name}",
                f"concat({d.literal(f'{c.name} must be a JSON {kind}, got ')}, lower(__jt_{c.name}))",
            )
        )
    return rules


def _case(whens: list[tuple[str, str]]) -> str:
    return "CASE " + " ".join(f"WHEN {cond} THEN {then}" for cond, then in whens) + " END"


def classify_sql(
    ds: Dataset,
    d: Dialect,
    *,
    source: str,
    carry: tuple[str, ...],
    reference_tables: dict[str, str] | None = None,
    explain: bool = False,
    json_facts: bool = False,
    not_before: str | None = None,
) -> str:
    """SQL over ``source`` (the ``carry`` bookkeeping columns and the raw text columns): every
    record, typed, with the first rule it fails as ``reason`` (NULL when clean) and, for failed
    records only, what a second pass needs to explain them: the raw record (``__record``) when
    ``carry`` has it (a JSON line: the second pass parses it again), else the raw text columns.

    With ``json_facts`` the source also has the JSON facts of ``json_fact_columns``, whose rules
    come first. With ``explain`` the result also has ``detail`` (a sentence) and the raw texts; the
    pipeline asks for that only for the few failed records, which keeps the hot path lean (no
    sentence is built, no raw text column is kept for the clean records).
    ``carry`` may include ``__not_after`` (the record's arrival, for ``not_after_arrival``) and
    ``__record`` (the raw record, kept for failed records).
    ``reference_tables`` maps a referencing column to a relation with one column ``key``.
    ``not_before`` (``job1.late_bound``): a record whose event time is earlier is later than the
    contract's late window allows (reason ``late_<column>``).
    """
    normalized = ",\n    ".join(f"{_normalized(c, d)} AS n_{c.name}" for c in ds.columns)
    typed = ", ".join(
        (d.try_cast(f"n_{c.name}", c.type) if c.type != "string" else f"n_{c.name}") + f" AS t_{c.name}"
        for c in ds.columns
    )
    pre = []
    if json_facts:
        rules = json_rules(ds, d)
        reason_sql = _case([(cond, d.literal(r)) for cond, r, _ in rules])
        pre = [f"{reason_sql} AS __pre_reason", f"{_case([(cond, det) for cond, _, det in rules])} AS __pre_detail"]
    whens = [("__pre_reason IS NOT NULL", "__pre_reason", "__pre_detail")] if json_facts else []
    for c in ds.columns:
        whens += column_rules(ds, c, d)
        if not_before and c.name == ds.partition_time_column:
            whens.append(late_rule(ds, d, not_before))
    for column, table in (reference_tables or {}).items():
        target = ds.references[column]
        whens.append(
            (
                f"n_{column} IS NOT NULL AND {d.not_in_keys(f'n_{column}', table)}",
                f"unknown_{column}",
                f"concat({d.literal(f'{column} not found in {target[0]}.{target[1]}: ')}, n_{column})",
            )
        )
    reason = _case([(cond, r if r == "__pre_reason" else d.literal(r)) for cond, r, _ in whens])
    flags = "".join(f", {f}" for f in allowed_flags(ds, d))
    raw_text = [*ds.column_names, *(c for c in carry if c == "__record")]
    carried = [c for c in carry if c != "__record"]
    kept = ["__record"] if "__record" in carry else raw_text
    outputs = [*carried, *(f"t_{c.name}" for c in ds.columns), "reason"]
    if not explain:  # what dedup groups the clean records by first (duplicate_groups_sql)
        outputs.append(f"CASE WHEN reason IS NULL THEN {d.key_hash(f't_{ds.key}')} END AS __key_hash")
        if ds.partition_time_column:  # the output's dt, a column the write can filter its scan by
            outputs.append(f"{d.utc_date('t_' + ds.partition_time_column)} AS {PARTITION_DAY}")
    if explain:
        outputs.append(_case([(cond, det) for cond, _, det in whens]) + " AS detail")
        outputs += raw_text
    else:  # keep the raw text of failed records only
        outputs += [f"CASE WHEN reason IS NOT NULL THEN {c} END AS {c}" for c in kept]
    inputs = [*carried, *raw_text, *pre]
    return f"""
WITH normalized AS (
  SELECT {", ".join(inputs)},
    {normalized}
  FROM {source}
), typed AS (
  SELECT *, {typed}, {any_control_character(ds, d, "__record" if "__record" in carry else None)} AS {ANY_CONTROL}{flags} FROM normalized
), checked AS (
  SELECT *, {reason} AS reason FROM typed
)
SELECT {", ".join(outputs)} FROM checked
"""


# -- record numbers ---------------------------------------------------------------------------------
def record_numbers_sql(d: Dialect, source: str, gaps: str | None) -> str:
    """``(__ord, __recno)`` for the records of ``source``: the record's number in its object,
    counting records only. A reader whose positions count other lines too (a header, blank or
    rejected lines) lists those positions in ``gaps(__fidx, __ord)``."""
    position = f"x.__ord - {d.shift_left('x.__fidx', ORD_BITS)}"
    if gaps is None:
        return f"SELECT x.__ord, {position} AS __recno FROM {source} x"
    return f"""
SELECT x.__ord, {position} - count(g.__ord) AS __recno
FROM {source} x LEFT JOIN {gaps} g ON g.__fidx = x.__fidx AND g.__ord < x.__ord
GROUP BY x.__ord, x.__fidx
"""


# -- dedup ----------------------------------------------------------------------------------------------
def duplicate_groups_sql(ds: Dataset, d: Dialect, classified: str) -> str:
    """Keys that occur more than once among clean records, with their first occurrence (input order)
    and how often they occur.

    Hash aggregates, not a window over every record: the records are grouped by a 64-bit hash of
    the key first (cheaper than by the text), and only keys whose hash repeats are grouped exactly.
    """
    key = f"t_{ds.key}"
    return f"""
SELECT {key} AS key, min(__ord) AS first_ord, count(*) AS n FROM {classified}
WHERE __key_hash IN (SELECT __key_hash FROM {classified} WHERE reason IS NULL GROUP BY __key_hash HAVING count(*) > 1)
  AND reason IS NULL
GROUP BY {key} HAVING count(*) > 1
"""


def dropped_sql(ds: Dataset, d: Dialect, classified: str, groups: str, seen: str | None) -> str:
    """Clean records that are not written, with their typed values and why: the later occurrences
    of a key repeated in this partition, and (``seen(key, src)``) the first occurrence of a key
    whose delivery by another raw partition (source ``src``) wins by the dataset's redelivery rule."""
    key = f"t_{ds.key}"
    typed = ", ".join(f"c.t_{c.name}" for c in ds.columns)
    sql = f"""
SELECT c.__ord, c.__fidx, {typed}, {d.literal(WITHIN_PARTITION)} AS why
FROM {classified} c JOIN {groups} g ON c.{key} = g.key
WHERE c.reason IS NULL AND c.__ord <> g.first_ord
"""
    if seen:
        sql += f"""UNION ALL
SELECT c.__ord, c.__fidx, {typed}, concat({d.literal(REDELIVERED[ds.redelivery])}, substr(s.src, 1, 10))
FROM {classified} c JOIN {seen} s ON c.{key} = s.key LEFT JOIN {groups} g ON c.{key} = g.key
WHERE c.reason IS NULL AND (g.key IS NULL OR c.__ord = g.first_ord)
"""
    return sql


def clean_sql(ds: Dataset, d: Dialect, classified: str, dropped: str, ingest_date: str) -> str:
    """The processed rows: records that passed every rule, minus the (few) dropped ones (an
    anti-join on a small table), typed exactly as the contract says, plus lineage (and dt: the
    classification's ``PARTITION_DAY``)."""
    cols = [d.cast(f"t_{c.name}", c.type) + f" AS {c.name}" for c in ds.columns]
    cols.append(f"{d.cast(d.literal(ingest_date), 'date')} AS ingest_date")
    if ds.partition_time_column:
        cols.append(f"c.{PARTITION_DAY} AS dt")
    return (
        f"SELECT {', '.join(cols)} FROM {classified} c "
        f"WHERE c.reason IS NULL AND {d.not_in_keys('c.__ord', dropped, column='__ord')}"
    )


def dedup_state_sql(ds: Dataset, d: Dialect, classified: str, dropped: str, seen: str | None, source: str) -> str:
    """A source's dedup state: each key its clean records deliver, once, with the source's name
    and the source whose delivery won over it (``beaten_by``; NULL when this source keeps it).

    Once per key without grouping every record by its key: the clean records less the later
    occurrences of a key repeated in this partition (``dropped`` as ``WITHIN_PARTITION``, few)
    hold each key exactly once (its first occurrence)."""
    text = d.type("string")
    beaten = "s.src" if seen else f"CAST(NULL AS {text})"
    join = f"LEFT JOIN {seen} s ON s.key = k.key" if seen else ""
    return f"""
SELECT k.key, CAST({d.literal(source)} AS {text}) AS src, {beaten} AS beaten_by
FROM (SELECT c.t_{ds.key} AS key FROM {classified} c
      LEFT JOIN {dropped} r ON r.__ord = c.__ord AND r.why = {d.literal(WITHIN_PARTITION)}
      WHERE c.reason IS NULL AND r.__ord IS NULL) k {join}"""


# -- snapshots (users) -------------------------------------------------------------------------------
def snapshot_sql(ds: Dataset, d: Dialect, clean: str, previous: str | None, ingest_date: str) -> str:
    """A snapshot dataset after this partition: its rows replace its own earlier rows, and per key
    the newest ingest_date wins, whatever order partitions are processed in."""
    names = [*ds.column_names, "ingest_date"]
    cols = ", ".join(names)
    union = f"SELECT {cols} FROM {clean}"
    if previous:
        union = f"SELECT {cols} FROM {previous} WHERE ingest_date <> {d.cast(d.literal(ingest_date), 'date')} UNION ALL {union}"
    return f"""
SELECT {cols} FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY {ds.key} ORDER BY ingest_date DESC) AS __rank FROM ({union}) u
) r WHERE __rank = 1"""


# -- the quarantine zone ---------------------------------------------------------------------------
def raw_record(ds: Dataset, d: Dialect) -> str:
    """A failed CSV record as quarantined: a JSON object of its raw text fields."""
    return d.json_object([(c, c) for c in ds.column_names])


def typed_record(ds: Dataset, d: Dialect) -> str:
    """A dropped duplicate as quarantined: a JSON object of its typed values, as text."""
    return d.json_object([(c.name, d.text(f"t_{c.name}", c.type)) for c in ds.columns])


def quarantine_sql(
    ds: Dataset,
    d: Dialect,
    *,
    files: str,
    line_rejects: str | None,
    explained: str,
    dropped: str,
    gaps: str | None,
) -> str:
    """Every quarantine row of the run (``QUARANTINE_COLUMNS`` but ``ingest_date``): lines that never
    became records (by line number), records that failed a rule and dropped duplicates (by record
    number)."""
    text = d.type("string")
    record = "__record" if ds.raw_format == "ndjson" else raw_record(ds, d)
    parts = [
        f"""SELECT e.reason AS reason, e.detail AS detail, f.__file AS source_file,
       concat('record ', CAST(r.__recno AS {text})) AS source_line, {record} AS record
FROM {explained} e JOIN ({record_numbers_sql(d, explained, gaps)}) r ON r.__ord = e.__ord JOIN {files} f ON f.__fidx = e.__fidx""",
        f"""SELECT {d.literal(DUPLICATE_REASON)}, concat({d.literal(ds.key + ' ')}, x.t_{ds.key}, ' ', x.why), f.__file,
       concat('record ', CAST(r.__recno AS {text})), {typed_record(ds, d)}
FROM {dropped} x JOIN ({record_numbers_sql(d, dropped, gaps)}) r ON r.__ord = x.__ord JOIN {files} f ON f.__fidx = x.__fidx""",
    ]
    if line_rejects:
        parts.append(
            f"""SELECT l.reason, l.detail, f.__file, concat('line ', CAST(l.__line AS {text})), l.record
FROM {line_rejects} l JOIN {files} f ON f.__fidx = l.__fidx"""
        )
    names = [n for n, _ in QUARANTINE_COLUMNS if n != "ingest_date"]
    assert names == ["reason", "detail", "source_file", "source_line", "record"], "the SELECTs above spell these"
    return "\nUNION ALL\n".join(parts)


def quarantine_file_sql(d: Dialect, quarantine: str, ingest_date: str) -> str:
    """The quarantine file's rows, in ``QUARANTINE_COLUMNS`` order."""
    cols = [n if n != "ingest_date" else f"{d.cast(d.literal(ingest_date), 'date')} AS ingest_date" for n, _ in QUARANTINE_COLUMNS]
    return f"SELECT {', '.join(cols)} FROM {quarantine}"


QUARANTINE_ORDER = ("source_file", "source_line", "reason")
