"""Deterministic sample batch files: ``users.csv`` and one ``transactions.csv`` per day.

At ``dirty_rate`` a row is replaced by (or joined by) a known kind of bad row; the manifest that
comes with the files counts every kind and names the quarantine reason the pipeline must give it.
Rows that only *look* tricky (quoted commas, non-Latin names, padded or mixed-case values) are
clean and must come out of the pipeline intact.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from tqdm import tqdm

from clickpipe_core.contracts import PAYMENT_METHODS, PLANS, TRANSACTIONS, USERS, minor_units

DEFAULT_START = date(2026, 11, 1)
PROGRESS_THRESHOLD = 200_000  # rows; smaller runs print no progress bar

COUNTRY_CURRENCY = {
    "US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "ES": "EUR", "IT": "EUR", "NL": "EUR",
    "IN": "INR", "BR": "BRL", "JP": "JPY", "CA": "CAD", "AU": "AUD", "CH": "CHF", "SE": "SEK",
    "MX": "MXN", "ZA": "ZAR",
}  # fmt: skip
COUNTRY_WEIGHTS = [30, 10, 9, 7, 5, 4, 3, 8, 6, 4, 5, 3, 2, 2, 1, 1]
FIRST_NAMES = ["Ana", "Ben", "Chloé", "David", "Émile", "Fatima", "Grace", "Hiro", "Isabela", "Jonas", "Kofi",
               "Léa", "Mateo", "Nadia", "Olivia", "Paweł", "Quinn", "Ravi", "Søren", "Tomás", "Uma", "Wei",
               "Xóchitl", "Yara", "Zoë", "李雷", "Александр", "محمد"]  # fmt: skip
LAST_NAMES = ["Anderson", "Brown", "Costa", "Dubois", "Eriksson", "García", "Hansen", "Ito", "Jensen",
              "Kowalski", "López", "Müller", "Nguyen", "O'Brien", "Patel", "Rossi", "Silva", "Tanaka",
              "Ünal", "Van der Berg", "Wójcik", "Smith, Jr.", "韩梅梅", "Иванова"]  # fmt: skip
STATUS_WEIGHTS = {"completed": 85, "pending": 7, "failed": 5, "refunded": 3}
AMOUNT_SCALE = {"JPY": 150.0, "INR": 80.0, "MXN": 18.0, "ZAR": 18.0, "SEK": 10.0, "BRL": 5.0}

# kind -> the quarantine reason Glue Job 1 must give it ("duplicate_key" rows are dropped as duplicates)
USER_DIRTY_KINDS = {
    "unparseable_date": "invalid_signup_date",
    "missing_id": "missing_user_id",
    "duplicate_id": "duplicate_key",
    "extra_columns": "too_many_columns",
    "bad_country": "invalid_country",
    "control_character": "control_character_full_name",
}
TRANSACTION_DIRTY_KINDS = {
    "unparseable_date": "invalid_transaction_ts",
    "non_numeric_amount": "invalid_amount",
    "negative_amount": "negative_amount",
    "missing_id": "missing_transaction_id",
    "duplicate_id": "duplicate_key",
    "unknown_user_id": "unknown_user_id",
    "extra_columns": "too_many_columns",
    "unknown_currency": "not_allowed_currency",
    "over_precise_amount": "too_precise_amount",
}
BAD_DATES = ["31/02/2026", "not a date", "2026-02-30", "2026-13-01", "yesterday", "20261101"]
BAD_AMOUNTS = ["abc", "12,50", "1,234.50", "N/A", "$10", "1e3"]


@dataclass
class GeneratedSample:
    out: Path
    users_file: Path
    transaction_files: dict[str, Path]  # day -> file
    manifest: dict

    @property
    def days(self) -> list[str]:
        return sorted(self.transaction_files)


def _writer(path: Path, header: list[str]):
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "w", newline="", encoding="utf-8")
    w = csv.writer(f, lineterminator="\n")
    w.writerow(header)
    return f, w


class _Dirt:
    """Decides which rows turn bad, and counts them by kind."""

    def __init__(self, rng: random.Random, rate: float, kinds: dict[str, str]):
        self.rng, self.rate, self.kinds = rng, rate, list(kinds)
        self.counts: Counter[str] = Counter()

    def pick(self) -> str | None:
        if self.rate <= 0 or self.rng.random() >= self.rate:
            return None
        kind = self.kinds[self.rng.randrange(len(self.kinds))]
        self.counts[kind] += 1
        return kind

    def repeat(self, writer, emitted: list[list[str]]) -> None:
        """Write an exact copy of an earlier clean row (or take the pick back if there is none yet)."""
        if emitted:
            writer.writerow(self.rng.choice(emitted))
        else:
            self.counts["duplicate_id"] -= 1


def _progress(total: int, desc: str):
    return tqdm(total=total, desc=desc, unit="rows", unit_scale=True, file=sys.stderr,
                disable=total < PROGRESS_THRESHOLD, leave=False)  # fmt: skip


def generate(
    out: str | Path,
    *,
    days: int = 3,
    users: int = 1000,
    transactions_per_day: int = 5000,
    seed: int = 7,
    dirty_rate: float = 0.02,
    start: date = DEFAULT_START,
) -> GeneratedSample:
    """Write the sample under ``out`` and return where everything is, with the manifest."""
    if days < 1 or users < 1 or transactions_per_day < 0:
        raise ValueError("days and users must be at least 1, transactions-per-day at least 0")
    if not 0 <= dirty_rate <= 1:
        raise ValueError("dirty-rate must be between 0 and 1")
    out = Path(out)
    rng = random.Random(seed)
    countries = list(COUNTRY_CURRENCY)

    # -- users --------------------------------------------------------------------------------
    user_dirt = _Dirt(rng, dirty_rate, USER_DIRTY_KINDS)
    clean_users: list[tuple[str, str]] = []  # (user_id, country) of users that will survive cleaning
    emitted: list[list[str]] = []
    users_file = out / "users.csv"
    f, w = _writer(users_file, USERS.column_names)
    tricky = Counter()
    with f, _progress(users, "users") as bar:
        for i in range(1, users + 1):
            uid = f"U{i:07d}"
            country = rng.choices(countries, COUNTRY_WEIGHTS)[0]
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{last}, {first}" if rng.random() < 0.1 else f"{first} {last}"
            tricky["quoted_comma"] += "," in name
            tricky["non_ascii"] += not name.isascii()
            email = f"{first.lower()}.{i}@example.com" if first.isascii() else f"user{i}@example.com"
            if rng.random() < 0.05:  # clean after normalization
                email, tricky["needs_normalization"] = f"  {email.upper()} ", tricky["needs_normalization"] + 1
            signup = start - timedelta(days=rng.randrange(1, 730))
            plan = rng.choices(PLANS, [70, 20, 10])[0]
            row = [uid, name, email, country.lower() if rng.random() < 0.02 else country, signup.isoformat(), plan]
            kind = user_dirt.pick()
            if kind == "unparseable_date":
                row[4] = rng.choice(BAD_DATES)
            elif kind == "missing_id":
                row[0] = rng.choice(["", "  "])
            elif kind == "extra_columns":
                row.append("unexpected")
            elif kind == "bad_country":
                row[3] = rng.choice(["USA", "United Kingdom", "1", "D"])
            elif kind == "control_character":  # PostgreSQL cannot store U+0000; the others are no name
                row[1] = name[:2] + rng.choice(["\x00", "\x01", "\x1b", "\x0c"]) + name[2:]
            elif kind == "duplicate_id":
                user_dirt.repeat(w, emitted)  # an exact repeat of an earlier clean row; this one stays clean
                kind = None
            if kind is None:
                clean_users.append((uid, country))
                emitted.append(row)
            w.writerow(row)
            bar.update()
    if not clean_users:
        raise ValueError("no clean user left: lower --dirty-rate or raise --users")

    # -- transactions, one extract per day ---------------------------------------------------------
    tx_dirt = _Dirt(rng, dirty_rate, TRANSACTION_DIRTY_KINDS)
    files: dict[str, Path] = {}
    late = 0
    with _progress(days * transactions_per_day, "transactions") as bar:
        for d in range(days):
            day = start + timedelta(days=d)
            path = out / "transactions" / day.isoformat() / "transactions.csv"
            files[day.isoformat()] = path
            f, w = _writer(path, TRANSACTIONS.column_names)
            emitted = []
            with f:
                for n in range(1, transactions_per_day + 1):
                    uid, country = rng.choice(clean_users)
                    currency = COUNTRY_CURRENCY[country]
                    decimals = minor_units(currency)  # JPY has none
                    amount = round(rng.lognormvariate(3.3, 0.9) * AMOUNT_SCALE.get(currency, 1.0), decimals)
                    # Most payments happen on the extract's day; a few arrive a day late.
                    ts_day = day - timedelta(days=1) if rng.random() < 0.03 else day
                    late += ts_day != day
                    ts = datetime(ts_day.year, ts_day.month, ts_day.day, tzinfo=timezone.utc) + timedelta(
                        seconds=rng.randrange(86400)
                    )
                    row = [
                        f"T{day:%Y%m%d}-{n:07d}",
                        uid,
                        f"{amount:.{decimals}f}",
                        currency,
                        rng.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()))[0],
                        rng.choice(PAYMENT_METHODS) if rng.random() > 0.02 else "",
                        ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    ]
                    kind = tx_dirt.pick()
                    if kind == "unparseable_date":
                        row[6] = rng.choice(BAD_DATES)
                    elif kind == "non_numeric_amount":
                        row[2] = rng.choice(BAD_AMOUNTS)
                    elif kind == "negative_amount":
                        row[2] = f"-{row[2]}"
                    elif kind == "missing_id":
                        row[0] = ""
                    elif kind == "unknown_user_id":
                        row[1] = f"X{rng.randrange(10**6):07d}"
                    elif kind == "extra_columns":
                        row += ["extra", "fields"]
                    elif kind == "unknown_currency":
                        row[3] = rng.choice(["XYZ", "BTC", "US$"])
                    elif kind == "over_precise_amount":  # one decimal more than the currency has
                        row[2] += ("." if decimals == 0 else "") + str(rng.randrange(1, 10))
                    elif kind == "duplicate_id":
                        tx_dirt.repeat(w, emitted)
                        kind = None
                    if kind is None:
                        emitted.append(row)
                    w.writerow(row)
                    bar.update()

    manifest = {
        "seed": seed,
        "start": start.isoformat(),
        "days": sorted(files),
        "users": {
            "rows": users + user_dirt.counts["duplicate_id"],
            "dirty": dict(user_dirt.counts),
            "expected_reasons": USER_DIRTY_KINDS,
            "clean_but_tricky": dict(tricky),
        },
        "transactions": {
            "rows": days * transactions_per_day + tx_dirt.counts["duplicate_id"],
            "dirty": dict(tx_dirt.counts),
            "expected_reasons": TRANSACTION_DIRTY_KINDS,
            "late_by_a_day": late,
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return GeneratedSample(out, users_file, files, manifest)
