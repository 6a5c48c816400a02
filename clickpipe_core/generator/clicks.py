"""Deterministic click-stream events, in believable sessions, in arrival order.

A *session* is one user on one device: it lands on a page (from a search engine, a social site,
a newsletter or directly), then browses: page views, clicks (each followed by the page view it
leads to), searches (followed by the results page), sometimes ``add_to_cart``, rarely
``remove_from_cart``; with a non-empty cart it may go to ``/cart`` → ``checkout`` → ``purchase``.
A purchase never happens without a checkout, and a checkout never without an ``add_to_cart``,
in the same session.

Times are integer milliseconds since the epoch (UTC) throughout, so a seed gives the same bytes
on every machine. Every event has an *event time* (``ts``) and an *arrival time* (when the
stream receives it; Firehose keys objects by arrival):

* on time: arrival = ts + a network delay (tens of ms to seconds);
* late (a whole session, at ``late_share``): the app was offline and synced hours later,
  arrival = ts + 1–24 h;
* duplicated (an event, at ``duplicate_share``): at-least-once delivery sends the same record
  (same ``event_id``, same bytes) again, a little after the first copy.

The window ``[start, end)`` bounds the event times (``anchor="event"``, for backfills: late
events then arrive after ``end``), or the arrival times (``anchor="arrival"``, for a live
stream: late events then have event times before ``start``).

Records come out sorted by arrival as ``(arrival_ms, data, user_id, session_id)`` tuples, where
``data`` is one compact JSON object (UTF-8, contract field order) ending in ``\\n``. Lines are
assembled from pre-serialized UTF-8 fragments by one bytes ``%`` format per record (a template
per session holds its constant fields) instead of ``json.dumps`` and ``encode`` per record: that
is most of the generator's speed. ``records()`` gives the same events as dicts.

Imports only the standard library and ``clickpipe_core.contracts``: it runs in Lambda.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import operator
import random
import re
import struct
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path
from urllib.parse import quote_plus

from clickpipe_core.contracts import CLICKS, DEVICES, EVENT_TYPES, PAYMENT_METHODS

# Index of the fields of an emitted tuple.
ARRIVAL, DATA, USER_ID, SESSION_ID = 0, 1, 2, 3

SITE = "https://www.clickpipe-shop.example"
CURRENCY = "USD"
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# The same countries and weights as the batch generator (tests/test_stream_generator.py checks it).
COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "BR", "JP", "CA", "AU", "CH", "SE", "MX", "ZA")
COUNTRY_WEIGHTS = (30, 10, 9, 7, 5, 4, 3, 8, 6, 4, 5, 3, 2, 2, 1, 1)

# Share of traffic by UTC hour of day (a global shop: Europe's day, then the Americas' evening).
HOURLY_WEIGHTS = (3.0, 2.4, 1.8, 1.4, 1.2, 1.3, 1.8, 2.6, 3.4, 4.0, 4.4, 4.6,
                  4.8, 5.0, 5.2, 5.6, 5.9, 6.1, 6.3, 6.2, 5.8, 5.1, 4.4, 3.6)  # fmt: skip

USER_AGENTS = {
    "desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    ),
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
        "ClickpipeShop/4.12.0 (iPhone; iOS 18.1; Scale/3.00)",
        "ClickpipeShop/4.11.2 (Android 14; SM-A546B)",
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
}
DEVICE_WEIGHTS = {"desktop": 45, "mobile": 45, "tablet": 10}

# Crawlers and scripts: their sessions crawl pages quickly, from no referrer, and never buy. The
# enrichment flags them as bots (the parser's crawler rule, or an automation client's family).
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.32.3",
)
BOT_SHARE = 0.03  # of sessions
BOT_ID_PREFIX = "bot-"  # a crawler's user id (never one of the users file's): bot-<its name>

# (referrer or None for direct traffic, weight, utm parameters of the landing URL or None). The
# values are written into the landing URL as they are (one campaign is percent-encoded).
REFERRERS = (
    ("https://www.google.com/", 26, None),
    ("https://www.google.com/", 7, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand"}),
    ("https://www.google.com/", 4, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "shoes_generic"}),
    ("https://www.bing.com/", 5, None),
    ("https://duckduckgo.com/", 3, None),
    ("https://www.facebook.com/", 4, {"utm_source": "facebook", "utm_medium": "social", "utm_campaign": "winter_sale"}),
    ("https://www.facebook.com/", 3, {"utm_source": "facebook", "utm_medium": "paid_social", "utm_campaign": "black_friday"}),
    (
        "https://www.instagram.com/",
        4,
        {"utm_source": "instagram", "utm_medium": "social", "utm_campaign": "winter_sale"},
    ),
    ("https://t.co/", 2, None),
    ("https://news.ycombinator.example/item?id=4242", 1, None),
    ("https://www.techblog.example/best-headphones-2026", 3, None),
    (
        "https://mail.example.com/",
        4,
        {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "weekly_deals"},
    ),
    (
        "https://mail.example.com/",
        2,
        {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "gift%20guide"},
    ),
    (None, 25, None),
)

# Users join over time and drift away: a user's first visit is spread over the window (a share were
# customers before it), and the chance that a session picked for them happens falls with the weeks
# since they joined. This is what makes weekly retention cohorts (and returning users) non-trivial.
EXISTING_USERS = 0.35  # share of users active before the window starts
RETENTION_HALF_LIFE_DAYS = (4, 40)  # per user, drawn between these (log-uniform)

CATEGORIES = {
    "electronics": (("wireless", "noise-cancelling", "bluetooth", "smart", "4k", "portable"),
                    ("headphones", "speaker", "monitor", "keyboard", "charger", "webcam", "tablet stand")),
    "shoes": (("running", "trail", "leather", "waterproof", "lightweight"), ("sneakers", "boots", "sandals", "loafers")),
    "clothing": (("merino", "organic cotton", "linen", "oversized", "slim-fit"), ("t-shirt", "hoodie", "jacket", "jeans", "sweater")),
    "home": (("ceramic", "oak", "minimalist", "cast-iron", "bamboo"), ("mug", "lamp", "skillet", "shelf", "cutting board")),
    "beauty": (("vegan", "hydrating", "fragrance-free", "mineral"), ("moisturizer", "sunscreen", "shampoo", "lip balm")),
    "sports": (("adjustable", "foldable", "insulated", "non-slip"), ("dumbbells", "yoga mat", "water bottle", "bike helmet")),
    "books": (("illustrated", "hardcover", "bestselling", "signed"), ("cookbook", "novel", "atlas", "field guide")),
    "toys": (("wooden", "magnetic", "educational", "glow-in-the-dark"), ("building set", "puzzle", "robot kit", "board game")),
}  # fmt: skip
PRICE_MEDIAN = {
    "electronics": 89,
    "shoes": 79,
    "clothing": 39,
    "home": 29,
    "beauty": 18,
    "sports": 35,
    "books": 22,
    "toys": 27,
}
# A few queries in other scripts: the raw zone is UTF-8 and must stay so.
EXTRA_QUERIES = (
    "café table",
    "schuhe größe 42",
    "écouteurs sans fil",
    "tênis de corrida",
    "ヘッドホン",
    "رطب",
    "regalo navidad",
)
CLICK_ELEMENTS = ("product_card", "nav_link", "banner", "recommendation", "breadcrumb")
STATIC_PAGES = ("/deals", "/account", "/help/shipping", "/help/returns", "/new-arrivals")
PRODUCTS = 1200
CATALOG_SEED = 20261101  # the catalog is the same for every seed: product ids mean the same thing everywhere

_UUID_AND = ~((0xF << 76) | (0xC << 60)) & ((1 << 128) - 1)  # version nibble and variant bits cleared...
_UUID_OR = (0x4 << 76) | (0x8 << 60)  # ...then set to version 4, RFC 4122 variant
_IDS = 64  # UUIDs drawn per random call
_IDS_AND = sum(_UUID_AND << (128 * i) for i in range(_IDS))
_IDS_OR = sum(_UUID_OR << (128 * i) for i in range(_IDS))
_UUID_GROUPS = struct.Struct("8s4s4s4s12s")  # a UUID's 32 hex digits, in its 8-4-4-4-12 groups
_NATURAL_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # json.dumps without its per-call set-up


def _j(value) -> bytes:
    """A value as a JSON fragment, UTF-8 encoded."""
    return _json(value).encode()


# Event types as the bytes the records are made of (one object each: the loop compares by identity).
PAGE_VIEW, CLICK, SEARCH, ADD_TO_CART, REMOVE_FROM_CART, CHECKOUT, PURCHASE = (e.encode() for e in EVENT_TYPES)
NULL = b"null"
# Properties of the cart events; money is ``%d.%02d`` of (cents // 100, cents % 100).
_ADD_TO_CART_PROPS = b'{"product_id":%s,"price":%d.%02d,"quantity":1,"currency":"' + CURRENCY.encode() + b'"}'
_CHECKOUT_PROPS = b'{"items":%d,"cart_value":%d.%02d,"currency":"' + CURRENCY.encode() + b'"}'
_PURCHASE_PROPS = (b'{"order_id":"O%012x","items":%d,"revenue":%d.%02d,"currency":"' + CURRENCY.encode()
                   + b'","payment_method":%s}')  # fmt: skip
_REMOVE_PROPS = b'{"product_id":%s,"quantity":%d}'
_SEARCH_PROPS = b'{"query":%s,"results":%d}'


def _hash01(text: str) -> float:
    return zlib.crc32(text.encode()) / 2**32


# -- users ---------------------------------------------------------------------------------------


def country_of(user_id: str) -> str:
    """A stable country for a user id, drawn with the batch generator's country weights.

    This is *not* the country ``users.csv`` gives the same id (the batch generator draws it from
    its own random stream); pass ``users_from_csv(...)`` when the two must agree.
    """
    cum = _COUNTRY_CUM
    return COUNTRIES[bisect.bisect_right(cum, _hash01(user_id + "/country") * cum[-1])]


_COUNTRY_CUM = list(accumulate(COUNTRY_WEIGHTS))


def users_from_csv(path: str | Path) -> list[tuple[str, str]]:
    """(user_id, country) of the rows of a batch ``users.csv`` that Glue Job 1 would keep.

    Rows with a blank id or a country that is not two letters are skipped, as are repeats.
    """
    out: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            uid = (row.get("user_id") or "").strip()
            country = (row.get("country") or "").strip().upper()
            if uid and len(country) == 2 and country.isascii() and country.isalpha() and uid not in out:
                out[uid] = country
    if not out:
        raise ValueError(f"{path}: no usable (user_id, country) row")
    return list(out.items())


def resolve_users(users: int | str | Path | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Users as (user_id, country): ``N`` → ``U0000001``..``U{N:07d}`` as the batch generator
    names them (countries from ``country_of``); a path → ``users_from_csv``; or the list itself."""
    if isinstance(users, bool):
        raise TypeError("users must be a count, a users.csv path or a list of (user_id, country)")
    if isinstance(users, int):
        if users < 1:
            raise ValueError("users must be at least 1")
        return [(uid, country_of(uid)) for uid in (f"U{i:07d}" for i in range(1, users + 1))]
    if isinstance(users, (str, Path)):
        return users_from_csv(users)
    out = [(str(u), str(c).upper()) for u, c in users]
    if not out:
        raise ValueError("the user list is empty")
    for uid, country in out:
        if not uid or not re.fullmatch(CLICKS.column("country").pattern, country):
            raise ValueError(f"bad user ({uid!r}, {country!r}): need a user id and an ISO 3166-1 alpha-2 country")
    return out


# -- the catalog and the other pools, built once ---------------------------------------------------


class _Pools:
    """Everything a record is assembled from, pre-serialized as JSON fragments (UTF-8 bytes).

    A page is ``(path, path as JSON, its full URL as JSON)``: the last is the referrer of the page
    a visitor goes to from it.
    """

    def __init__(self):
        rng = random.Random(CATALOG_SEED)

        def page(path: str) -> tuple[str, bytes, bytes]:
            return path, _j(path), _j(SITE + path)

        self.page = page
        self.landings: dict[tuple[str, str], tuple[str, bytes, bytes]] = {}  # (page, utm suffix) -> page
        self.products = []  # (page, product id as JSON, price in cents)
        for i in range(1, PRODUCTS + 1):
            cat = rng.choice(list(CATEGORIES))
            adjectives, nouns = CATEGORIES[cat]
            name = f"{rng.choice(adjectives)} {rng.choice(nouns)}"
            pid = f"P{i:06d}"
            cents = max(199, int(rng.lognormvariate(math.log(PRICE_MEDIAN[cat]), 0.6)) * 100 + 99)
            self.products.append((page(f"/product/{pid}/{re.sub(r'[^a-z0-9]+', '-', name)}"), _j(pid), cents))
        # Popularity: a few products get most of the views (Zipf-like).
        order = list(range(PRODUCTS))
        rng.shuffle(order)
        weights = [0.0] * PRODUCTS
        for rank, idx in enumerate(order, 1):
            weights[idx] = 1 / rank**0.8
        self.product_cum = list(accumulate(weights))
        self.categories = [page(f"/c/{c}") for c in CATEGORIES]

        queries = sorted({f"{a} {n}" for adjectives, nouns in CATEGORIES.values() for a in adjectives for n in nouns})
        queries += sorted({n for _, nouns in CATEGORIES.values() for n in nouns}) + list(EXTRA_QUERIES)
        self.queries = [(_j(q), page(f"/search?q={quote_plus(q)}")) for q in queries]  # (query, results page)

        self.home = page("/")
        self.static = [page(p) for p in STATIC_PAGES]
        self.deals = self.static[0]
        self.cart = page("/cart")
        self.checkout = page("/checkout")
        self.confirmation = page("/checkout/confirmation")
        self.click_props = {e: b'{"element":"' + e.encode() + b'","target":' for e in CLICK_ELEMENTS}

        # Landing: (referrer as JSON, landing properties as JSON, utm query string for the landing URL)
        self.referrers = []
        self.referrer_cum = list(accumulate(w for _, w, _ in REFERRERS))
        for url, _, utm in REFERRERS:
            suffix = "?" + "&".join(f"{k}={v}" for k, v in utm.items()) if utm else ""
            self.referrers.append((_j(url), _j(utm) if utm else NULL, suffix))

        self.devices = list(DEVICE_WEIGHTS)
        self.device_cum = list(accumulate(DEVICE_WEIGHTS.values()))
        # User agents as template fragments: JSON, '%' escaped for the per-session format string.
        self.user_agents = {d: [_j(ua).replace(b"%", b"%%") for ua in uas] for d, uas in USER_AGENTS.items()}
        self.bot_user_agents = [_j(ua).replace(b"%", b"%%") for ua in BOT_USER_AGENTS]
        self.bot_ids = [BOT_ID_PREFIX + re.sub(r"[^a-z0-9]+", "-", ua.lower())[:40].strip("-") for ua in BOT_USER_AGENTS]
        self.payment_methods = [_j(p) for p in PAYMENT_METHODS]


def _session(P: _Pools, rng: random.Random, stop: float = 0.2, max_steps: int = 25):
    """One visit, as ``(event_type, page, referrer, properties)`` JSON fragments (bytes), in order.

    The referrer of an event is the page's referrer (what ``document.referrer`` says on it).
    """
    rand, log = rng.random, math.log
    bisect_right = bisect.bisect_right
    products, product_cum = P.products, P.product_cum
    product_total = product_cum[-1]
    cart_page, checkout_page = P.cart, P.checkout
    categories, click_props = P.categories, P.click_props

    # Landing page, and where the visitor came from.
    ref, utm, utm_suffix = P.referrers[bisect_right(P.referrer_cum, rand() * P.referrer_cum[-1])]
    u = rand()
    product = -1
    if u < 0.3:
        page = P.home
    elif u < 0.55:
        page = categories[int(rand() * len(categories))]
    else:
        product = bisect_right(product_cum, rand() * product_total)
        page = products[product][0]
    if utm_suffix:
        landing = P.landings.get((page[0], utm_suffix))
        if landing is None:
            landing = P.landings[page[0], utm_suffix] = P.page(page[0] + utm_suffix)
        page = landing
    yield PAGE_VIEW, page[1], ref, utm

    cart: dict[int, int] = {}  # product -> quantity
    purchased = False
    for _ in range(max_steps):
        if rand() < (0.5 if purchased else stop):
            return
        u = rand()
        if product >= 0 and u < 0.22:
            cart[product] = cart.get(product, 0) + 1
            _, pid, cents = products[product]
            yield ADD_TO_CART, page[1], ref, _ADD_TO_CART_PROPS % (pid, cents // 100, cents % 100)
        elif cart and u < 0.34:  # to the cart, to the checkout; then buy, think again, or leave
            if page is not cart_page:
                page, ref, product = cart_page, page[2], -1
                yield PAGE_VIEW, page[1], ref, NULL
            page, ref = checkout_page, cart_page[2]
            yield PAGE_VIEW, page[1], ref, NULL
            items = sum(cart.values())
            total = sum(products[p][2] * q for p, q in cart.items())
            yield CHECKOUT, page[1], ref, _CHECKOUT_PROPS % (items, total // 100, total % 100)
            v = rand()
            if v < 0.7:
                order = rng.getrandbits(48)
                method = P.payment_methods[int(rand() * len(P.payment_methods))]
                yield PURCHASE, page[1], ref, _PURCHASE_PROPS % (order, items, total // 100, total % 100, method)
                cart.clear()
                purchased = True
                page, ref = P.confirmation, page[2]
                yield PAGE_VIEW, page[1], ref, NULL
            elif v < 0.85:
                page, ref = cart_page, page[2]
                yield PAGE_VIEW, page[1], ref, NULL
            else:
                return  # abandoned the checkout
        elif cart and u < 0.38:
            if page is not cart_page:
                page, ref, product = cart_page, page[2], -1
                yield PAGE_VIEW, page[1], ref, NULL
            gone = next(iter(cart))
            yield REMOVE_FROM_CART, page[1], ref, _REMOVE_PROPS % (products[gone][1], cart.pop(gone))
        elif u < 0.5:  # a search, then its results page
            query, results = P.queries[int(rand() * len(P.queries))]
            yield SEARCH, page[1], ref, _SEARCH_PROPS % (query, int(-log(1.0 - rand()) / (1 / 40)))  # expo(1 / 40)
            page, ref, product = results, page[2], -1
            yield PAGE_VIEW, page[1], ref, NULL
        elif u < 0.85:  # a click, then the page it leads to
            element = CLICK_ELEMENTS[int(rand() * len(CLICK_ELEMENTS))]
            if page[0].startswith("/search") or element in ("product_card", "recommendation"):
                element = "recommendation" if element == "recommendation" else "product_card"
                target_product = bisect_right(product_cum, rand() * product_total)
                target = products[target_product][0]
            else:
                target_product = -1
                target = (categories[int(rand() * len(categories))] if element == "nav_link"
                          else P.deals if element == "banner" else P.home)  # fmt: skip
            yield CLICK, page[1], ref, click_props[element] + target[1] + b"}"
            page, ref, product = target, page[2], target_product
            yield PAGE_VIEW, page[1], ref, NULL
        else:  # the menu, a bookmark, a typed URL
            if rand() < 0.5:
                target, target_product = P.static[int(rand() * len(P.static))], -1
            else:
                target_product = bisect_right(product_cum, rand() * product_total)
                target = products[target_product][0]
            page, ref, product = target, page[2], target_product
            yield PAGE_VIEW, page[1], ref, NULL


def _bot_session(P: _Pools, rng: random.Random):
    """A crawler's visit: page after page (categories and products), no referrer, no cart."""
    rand = rng.random
    products, product_cum = P.products, P.product_cum
    ref = NULL
    for _ in range(3 + int(rand() * 10)):
        if rand() < 0.3:
            page = P.categories[int(rand() * len(P.categories))]
        else:
            page = products[bisect.bisect_right(product_cum, rand() * product_cum[-1])][0]
        yield PAGE_VIEW, page[1], ref, NULL
        ref = page[2]


_POOLS: _Pools | None = None


def _pools() -> _Pools:
    global _POOLS
    if _POOLS is None:
        _POOLS = _Pools()
    return _POOLS


class _Tables:
    """Delays as quantile tables (index by a uniform draw): one ``random()`` instead of a
    distribution call per event, and the same numbers on every platform."""

    def __init__(self, size: int = 4096):
        from statistics import NormalDist

        qs = [(i + 0.5) / size for i in range(size)]
        z = list(map(NormalDist().inv_cdf, qs))
        # network delay from the client to the stream: 20 ms + exponential, mean ~0.4 s, capped at 30 s
        self.net_delay = [min(int(-400 * math.log(1 - q)), 30_000) for q in qs]
        # a new page loading after a click: 250 ms + exponential, mean 0.7 s
        self.load_gap = [250 + int(-700 * math.log(1 - q)) for q in qs]
        # reading before the next action: 1.5 s + lognormal, median ~10 s, capped at 10 min
        self.read_gap = [1500 + min(int(math.exp(9.2 + zi)), 600_000) for zi in z]
        # an at-least-once retry: 200 ms + exponential, mean 5 s, capped at 2 min
        self.retry_delay = [200 + min(int(-5000 * math.log(1 - q)), 120_000) for q in qs]
        # "SS.mmmZ" for every millisecond of a minute
        seconds, millis = [b"%02d." % s for s in range(60)], [b"%03dZ" % ms for ms in range(1000)]
        self.sec_ms = [s + ms for s in seconds for ms in millis]


_TABLES: _Tables | None = None


def _tables() -> _Tables:
    global _TABLES
    if _TABLES is None:
        _TABLES = _Tables()
    return _TABLES


# -- time helpers ----------------------------------------------------------------------------------


def to_ms(value: datetime | date | str | float | int) -> int:
    """Milliseconds since the epoch, UTC, from a datetime (naive = UTC), a date (its midnight), an
    ISO string, or epoch seconds."""
    if isinstance(value, str):
        text = value.strip()
        value = (
            date.fromisoformat(text)
            if _NATURAL_DAY.match(text)
            else datetime.fromisoformat(text.replace("Z", "+00:00"))
        )
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return round(value.timestamp() * 1000)
    if isinstance(value, date):
        return round(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp() * 1000)
    if isinstance(value, (int, float)):
        return round(value * 1000)
    raise TypeError(f"not a time: {value!r}")


def iso_ms(ms: int) -> str:
    """``2026-11-01T12:34:56.789Z``"""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def day_of(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


# -- the generator -----------------------------------------------------------------------------------


class ClickGenerator:
    """``events`` unique events (plus duplicates) over ``[start, end)``; iterate for the records.

    Iterating yields lists of ``(arrival_ms, data, user_id, session_id)`` sorted by arrival (one
    list per arrival slice, in arrival order); ``manifest`` is complete once iteration ends.
    The same arguments give the same records, byte for byte.
    """

    def __init__(
        self,
        *,
        events: int,
        start: datetime | date | str | float | int,
        end: datetime | date | str | float | int,
        users: int | str | Path | Sequence[tuple[str, str]] = 1000,
        seed: int = 7,
        late_share: float = 0.05,
        duplicate_share: float = 0.01,
        anchor: str = "event",
        slice_seconds: float = 3600,
        max_late_hours: float = 24,
    ):
        if events < 0:
            raise ValueError("events must be at least 0")
        for name, share in (("late_share", late_share), ("duplicate_share", duplicate_share)):
            if not 0 <= share <= 1:
                raise ValueError(f"{name} must be between 0 and 1, not {share}")
        if anchor not in ("event", "arrival"):
            raise ValueError("anchor must be 'event' (the window bounds event times) or 'arrival'")
        if max_late_hours < 1:
            raise ValueError("max_late_hours must be at least 1 (a late event is at least an hour late)")
        self.start_ms, self.end_ms = to_ms(start), to_ms(end)
        if self.end_ms <= self.start_ms:
            raise ValueError(f"empty window: end {iso_ms(self.end_ms)} is not after start {iso_ms(self.start_ms)}")
        if slice_seconds <= 0:
            raise ValueError("slice_seconds must be positive")
        self.events, self.seed = events, seed
        self.late_share, self.duplicate_share, self.anchor = late_share, duplicate_share, anchor
        self.slice_ms = max(1, round(slice_seconds * 1000))
        self.max_late_ms = round(max_late_hours * HOUR_MS)
        self.users = resolve_users(users)
        self.manifest: dict = {}

    # Slices of the window and the number of events each gets (largest remainder; sums to events).
    def _budgets(self) -> list[tuple[int, int, int]]:
        slices = []
        s = self.start_ms
        while s < self.end_ms:
            e = min(s + self.slice_ms, self.end_ms)
            hour = ((s + e) // 2 // HOUR_MS) % 24
            slices.append((s, e, (e - s) * HOURLY_WEIGHTS[hour]))
            s = e
        total = sum(w for _, _, w in slices)
        exact = [self.events * w / total for _, _, w in slices]
        counts = [int(x) for x in exact]
        short = self.events - sum(counts)
        for i in sorted(range(len(slices)), key=lambda i: (counts[i] - exact[i], i))[:short]:
            counts[i] += 1
        return [(s, e, n) for (s, e, _), n in zip(slices, counts)]

    def _lifecycles(self) -> tuple[list[int], list[float]]:
        """Per user: when they join (ms; a share joined in the four weeks before the window) and how
        fast they fade (halvings, per ms since joining, of the chance to come back). Stable per id."""
        span = self.end_ms - self.start_ms
        lo, hi = (math.log(d * DAY_MS) for d in RETENTION_HALF_LIFE_DAYS)
        joined, fading = [], []
        for uid, _ in self.users:
            h = _hash01(uid + "/joined")
            if h < EXISTING_USERS:
                joined.append(self.start_ms - int(h / EXISTING_USERS * 28 * DAY_MS))
            else:
                joined.append(self.start_ms + int((h - EXISTING_USERS) / (1 - EXISTING_USERS) * span))
            fading.append(1 / math.exp(lo + _hash01(uid + "/fading") * (hi - lo)))
        return joined, fading

    def _day_weights(self, day: int, activity: list[float], joined: list[int], fading: list[float]) -> list[float]:
        """Cumulative weights of the users for sessions of window day ``day``: a user's activity,
        halved for every half-life since they joined (age at the day's middle), 0 before the day
        they join. One pass over the users per day: cheaper than drawing and rejecting per session."""
        noon = self.start_ms + day * DAY_MS + DAY_MS // 2
        day_end = noon + DAY_MS // 2
        weights = [
            0.0 if j >= day_end else a * 2.0 ** (-max(noon - j, 0) * f) for a, j, f in zip(activity, joined, fading)
        ]  # fmt: skip
        cum = list(accumulate(weights))
        if cum[-1] <= 0:  # nobody has joined yet (cannot happen with existing users, but stay total)
            cum = list(accumulate(activity))
        return cum

    def _profile(self, u: int, profiles: dict, P: _Pools) -> tuple:
        """A user's id, and as template fragments (bytes): country, id as JSON ('%' escaped), usual
        device and browser."""
        uid, country = self.users[u]
        home = P.devices[bisect.bisect_right(P.device_cum, _hash01(uid + "/device") * P.device_cum[-1])]
        home_uas = P.user_agents[home]
        profile = profiles[u] = (
            uid, country.encode(), _j(uid).replace(b"%", b"%%"), home.encode(),
            home_uas[int(_hash01(uid + "/ua") * len(home_uas))],
        )  # fmt: skip
        return profile

    def __iter__(self) -> Iterator[list[tuple[int, bytes, str, str]]]:
        return self.batches()

    def batches(self) -> Iterator[list[tuple[int, bytes, str, str]]]:
        P = _pools()
        T = _tables()
        rng = random.Random(self.seed)
        rand, expo, getrandbits = rng.random, rng.expovariate, rng.getrandbits
        bisect_right = bisect.bisect_right
        users = self.users
        activity = [(1 - _hash01(u + "/activity")) ** -0.7 for u, _ in users]
        joined, fading = self._lifecycles()
        day_cums: dict[int, list[float]] = {}
        bots = [(uid, b"US", _j(uid), b"desktop", ua) for uid, ua in zip(P.bot_ids, P.bot_user_agents)]
        devices, device_cum = P.devices, P.device_cum
        device_total = device_cum[-1]
        user_agents = P.user_agents
        net_delay, load_gap, read_gap, retry_delay, sec_ms = (
            T.net_delay,
            T.load_gap,
            T.read_gap,
            T.retry_delay,
            T.sec_ms,
        )
        n_net, n_load, n_read, n_retry = len(net_delay), len(load_gap), len(read_gap), len(retry_delay)
        late_share, dup_share = self.late_share, self.duplicate_share
        anchor_arrival = self.anchor == "arrival"
        start_ms, end_ms, slice_ms = self.start_ms, self.end_ms, self.slice_ms
        late_span = self.max_late_ms - HOUR_MS + 1
        last_arrival_ms = end_ms - 1 if anchor_arrival else 1 << 62

        counts = dict.fromkeys((PAGE_VIEW, CLICK, SEARCH, ADD_TO_CART, REMOVE_FROM_CART, CHECKOUT, PURCHASE), 0)
        sessions = late_sessions = late_events = duplicates = 0
        event_days: dict[int, int] = {}
        arrival_days: dict[int, int] = {}
        minute_cache: dict[int, bytes] = {}
        # Records not handed out yet, in the order they were made (what is left after a cut stays
        # sorted by arrival): no bucket per slice to find for every record.
        pending: list[tuple[int, bytes, str, str]] = []
        add = pending.append
        profiles: dict[int, tuple] = {}
        first_ts = last_ts = first_arrival = last_arrival = None

        ids: list[bytes] = []
        next_id = ids.pop  # the next UUID while ``ids`` holds some (inlined in the loop: no call per event)

        def uuid4() -> bytes:
            """A random (version 4) UUID from the seeded stream; made 64 at a time, which is faster."""
            if not ids:
                h = (getrandbits(128 * _IDS) & _IDS_AND | _IDS_OR).to_bytes(16 * _IDS, "big").hex().encode()
                fresh = list(map(b"-".join, _UUID_GROUPS.iter_unpack(h)))
                fresh.reverse()  # popped from the end: the first drawn goes first
                ids.extend(fresh)
            return next_id()

        def ready(out: list) -> list:
            """``out`` (sorted by arrival) as the next batch, counted into the manifest."""
            nonlocal first_arrival, last_arrival
            first_arrival = out[0][0] if first_arrival is None else first_arrival
            last_arrival = out[-1][0]
            d0, d1 = out[0][0] // DAY_MS, out[-1][0] // DAY_MS
            if d0 == d1:
                arrival_days[d0] = arrival_days.get(d0, 0) + len(out)
            else:
                for item in out:
                    d = item[0] // DAY_MS
                    arrival_days[d] = arrival_days.get(d, 0) + 1
            return out

        # Each slice gets its share of the events; a session is not cut to fit its slice: what it
        # overshoots comes off the next slices. Only the very last session may be cut short.
        remaining, carry = self.events, 0
        for k, (s0, s1, budget) in enumerate(self._budgets()):
            target = budget - carry
            made = 0
            while made < target and remaining > 0:
                # -- a new session: when, who, on what, and whether it reaches us hours late -------------
                t = s0 + int(rand() * (s1 - s0))  # window time of its first event
                if rand() < BOT_SHARE:
                    uid, country, uid_json, device, ua = bots[int(rand() * len(bots))]
                    steps, late_ms = _bot_session(P, rng), 0
                else:  # a user who has joined by that day, by their activity now (see _day_weights)
                    day = (t - self.start_ms) // DAY_MS
                    user_cum = day_cums.get(day)
                    if user_cum is None:  # slices go forward in time: keep the day before, for slices across midnight
                        day_cums = {d: c for d, c in day_cums.items() if d == day - 1}
                        user_cum = day_cums[day] = self._day_weights(day, activity, joined, fading)
                    u = bisect_right(user_cum, rand() * user_cum[-1])
                    uid, country, uid_json, device, ua = profiles.get(u) or self._profile(u, profiles, P)
                    if rand() >= 0.75:  # a quarter of the sessions are on another device
                        other = devices[bisect_right(device_cum, rand() * device_total)]
                        uas = user_agents[other]
                        ua = uas[int(rand() * len(uas))]
                        device = other.encode()
                    late_ms = HOUR_MS + int(expo(1 / (3 * HOUR_MS))) % late_span if rand() < late_share else 0
                    steps = _session(P, rng)
                sid = next_id() if ids else uuid4()
                session_id = sid.decode()
                # anchor=event: the window bounds event times and late sessions arrive later;
                # anchor=arrival: the window bounds arrivals and late sessions happened earlier.
                ts_shift = late_ms if anchor_arrival else 0
                arrival_shift = (0 if anchor_arrival else late_ms) + 20
                # One format string per session: its constant fields are in it already ('%' escaped).
                template = (
                    b'{"event_id":"%s","user_id":' + uid_json + b',"session_id":"' + sid
                    + b'","event_type":"%s","page":%s,"referrer":%s,"device":"' + device + b'","user_agent":'
                    + ua + b',"country":"' + country + b'","ts":"%s%s","properties":%s}\n'
                )  # fmt: skip

                n, room = 0, remaining  # events made in this session, and at most
                ts = t - ts_shift  # of the first event
                session_first_ts = ts
                # Event times only grow in a session: the minute of ``prefix`` and the day are
                # looked up again only when they change; new_days: (events before, day number).
                minute_start = minute_end = day_end = -1 << 62
                new_days: list[tuple[int, int]] = []
                for etype, page_json, ref_json, props in steps:
                    if n:  # a new page takes a moment to load; anything else follows some reading
                        t += load_gap[int(rand() * n_load)] if etype is PAGE_VIEW else read_gap[int(rand() * n_read)]
                    if t >= end_ms or n == room:
                        break
                    ts = t - ts_shift
                    if ts >= minute_end:
                        minute = ts // 60_000
                        minute_start, minute_end = minute * 60_000, minute * 60_000 + 60_000
                        prefix = minute_cache.get(minute)
                        if prefix is None:
                            prefix = minute_cache[minute] = time.strftime(
                                "%Y-%m-%dT%H:%M:", time.gmtime(minute * 60)
                            ).encode()
                        if ts >= day_end:
                            new_days.append((n, ts // DAY_MS))
                            day_end = (ts // DAY_MS + 1) * DAY_MS
                    line = template % (
                        next_id() if ids else uuid4(), etype, page_json, ref_json, prefix, sec_ms[ts - minute_start], props
                    )  # fmt: skip
                    arrival = t + arrival_shift + net_delay[int(rand() * n_net)]
                    if arrival > last_arrival_ms:  # anchor=arrival: nothing arrives after the window
                        arrival = last_arrival_ms
                    add((arrival, line, uid, session_id))
                    if rand() < dup_share:  # at-least-once delivery: the same record again, after a retry
                        duplicates += 1
                        add((min(arrival + retry_delay[int(rand() * n_retry)], last_arrival_ms), line, uid, session_id))
                    counts[etype] += 1
                    n += 1
                if not n:
                    continue
                remaining -= n
                made += n
                sessions += 1
                if late_ms:
                    late_sessions += 1
                    late_events += n
                first_ts = session_first_ts if first_ts is None or session_first_ts < first_ts else first_ts
                last_ts = ts if last_ts is None or ts > last_ts else last_ts  # ts: of the session's last event
                for i, (before, d) in enumerate(new_days):
                    upto = new_days[i + 1][0] if i + 1 < len(new_days) else n
                    event_days[d] = event_days.get(d, 0) + upto - before
                if len(minute_cache) > 100_000:
                    minute_cache.clear()

            carry = max(0, made - target) if target > 0 else carry - budget

            # Every record arriving in slice k exists now (sessions start before their records
            # arrive, and none arrives before its session's slice): hand them out, in arrival order
            # (a stable sort: records with the same arrival keep their order).
            if pending:
                pending.sort(key=_arrival)
                cut = bisect.bisect_left(pending, start_ms + (k + 1) * slice_ms, key=_arrival)
                if cut:
                    out = pending[:cut]
                    del pending[:cut]
                    yield ready(out)
        # What arrives after the window (late sessions, retries), one batch per slice of arrival time.
        pending.sort(key=_arrival)
        i = 0
        while i < len(pending):
            bound = start_ms + ((pending[i][0] - start_ms) // slice_ms + 1) * slice_ms
            j = bisect.bisect_left(pending, bound, i, key=_arrival)
            yield ready(pending[i:j])
            i = j
        pending.clear()

        unique = sum(counts.values())
        self.manifest = {
            "seed": self.seed,
            "anchor": self.anchor,
            "window": {"start": iso_ms(start_ms), "end": iso_ms(end_ms)},
            "events": unique,
            "records": unique + duplicates,
            "sessions": sessions,
            "late_events": late_events,
            "late_sessions": late_sessions,
            "duplicates": duplicates,
            "late_share": round(late_events / unique, 4) if unique else 0.0,
            "duplicate_share": round(duplicates / unique, 4) if unique else 0.0,
            "by_event_type": {e.decode(): n for e, n in counts.items()},
            "users": len(users),
            "event_time": {"first": iso_ms(first_ts), "last": iso_ms(last_ts)} if unique else None,
            "arrival_time": {"first": iso_ms(first_arrival), "last": iso_ms(last_arrival)} if unique else None,
            # Raw partitions (by arrival day) and processed partitions (by event day) the records touch.
            "arrival_days": {day_of(d * DAY_MS): n for d, n in sorted(arrival_days.items())},
            "event_days": {day_of(d * DAY_MS): n for d, n in sorted(event_days.items())},
        }

    def __len__(self) -> int:  # unique events; records = events + duplicates
        return self.events

    def records(self) -> Iterator[dict]:
        """The records as dicts (``json.loads`` of each line), in arrival order."""
        for batch in self.batches():
            for item in batch:
                yield json.loads(item[DATA])


_arrival = operator.itemgetter(ARRIVAL)


def generate_clicks(**kwargs) -> tuple[list[tuple[int, bytes, str, str]], dict]:
    """All records of ``ClickGenerator(**kwargs)`` in one list, with the manifest (small runs)."""
    gen = ClickGenerator(**kwargs)
    out = [item for batch in gen for item in batch]
    return out, gen.manifest


def day_window(days: Iterable[str | date]) -> tuple[datetime, datetime]:
    """[first day 00:00, the day after the last 00:00), UTC, for a list of consecutive days."""
    ds = sorted(d if isinstance(d, date) else date.fromisoformat(d) for d in days)
    if not ds:
        raise ValueError("no day given")
    if (ds[-1] - ds[0]).days != len(ds) - 1 or len(set(ds)) != len(ds):
        raise ValueError(f"days must be consecutive and distinct: {[d.isoformat() for d in ds]}")
    midnight = datetime.min.time()
    return (datetime.combine(ds[0], midnight, timezone.utc),
            datetime.combine(ds[-1] + timedelta(days=1), midnight, timezone.utc))  # fmt: skip


__all__ = [
    "ARRIVAL", "DATA", "USER_ID", "SESSION_ID", "ClickGenerator", "generate_clicks", "resolve_users",
    "users_from_csv", "country_of", "to_ms", "iso_ms", "day_of", "day_window", "DEVICES",
]  # fmt: skip
