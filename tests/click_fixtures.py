"""Small, hand-made Firehose objects for the click tests (the real generator has its own tests)."""

import gzip
import json
import uuid
from datetime import datetime, timezone

from clickpipe_core import layout


def event(n: int = 0, **overrides) -> dict:
    e = {
        "event_id": str(uuid.UUID(int=n + 1)),
        "user_id": "U0000001",
        "session_id": "S1",
        "event_type": "page_view",
        "page": "/home",
        "referrer": None,
        "device": "mobile",
        "user_agent": "Mozilla/5.0",
        "country": "us",
        "ts": "2026-11-02T10:00:00Z",
        "properties": {"product_id": "P1"},
    }
    e.update(overrides)
    return e


def put_object(store, lines: list, arrival: datetime, *, name: str | None = None, raw: bytes | None = None) -> str:
    key = layout.raw_clicks_key("clickpipe-clicks", arrival, name or uuid.uuid4().hex)
    body = raw if raw is not None else gzip.compress(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()
    )
    store.put_bytes(body, key)
    return key


def at(day: str, hour: int = 12) -> datetime:
    y, m, d = map(int, day.split("-"))
    return datetime(y, m, d, hour, tzinfo=timezone.utc)
