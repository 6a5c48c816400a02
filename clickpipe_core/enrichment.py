"""Enrichment of click events: what the user agent says (browser, OS, device class, bot) and where a
visit came from (acquisition channel, source, medium, campaign).

Pure Python, no engine: Glue Job 1 collects the *distinct* user agents and (page query string,
referrer) pairs of a run from its engine, parses each once here, hands the engine the answers as two
small lookup tables (``lookups``) and joins them to the clean records in SQL
(``enrich_sql``), so every processed click carries the contract's ``ENRICHMENT_COLUMNS``
(``clickpipe_core/contracts.py``) and both engines give the same answer by construction (a day has
millions of events but a few hundred user agents and landing URLs). The processed zone keeps the raw
``user_agent``, ``page`` and ``referrer`` too: a rule change here takes a re-run of Job 1 for the days
it should apply to. Glue Job 2 reads these columns for its sessions; for processed files written
before the columns existed (their readers fill NULL) it enriches those rows itself with the same
two functions (``glue_scripts/marts_engine.py``).

**User agents** are parsed by ``ua-parser`` (the uap-core rules of ``ua-parser-builtins``; its Rust
accelerator ``ua-parser-rs`` is used when installed, else the pure-Python regexes: same rules, same
answers). The rules, first match wins:

| user agent | browser, version | os | device_class | is_bot |
| --- | --- | --- | --- | --- |
| empty or missing | ``Unknown``, NULL | ``Unknown`` | ``unknown`` | false |
| the parser's device is ``Spider`` (its crawler rule), or its browser family is an automation client (``AUTOMATION_FAMILIES``) | parser's | parser's | ``bot`` | true |
| parser's device is an iPad or a generic Android tablet / Kindle | parser's | parser's | ``tablet`` | false |
| parser's OS is iOS, Android or another handset OS | parser's | parser's | ``mobile`` | false |
| parser's OS is a desktop OS (Windows, Mac OS X, Linux, Chrome OS, ...) | parser's | parser's | ``desktop`` | false |
| anything else (an absurd string: ``Other`` everywhere) | ``Other`` | ``Other`` | ``unknown`` | false |

Only the first ``UA_PARSE_CHARS`` characters are parsed (the contract allows 1,024; real agents are
far shorter), which bounds the regex work on absurd input. The version is ``major[.minor]``.

**Acquisition** of a visit is decided from its landing page's UTM parameters and its referrer, by
this rule table (first match wins; ``acquisition`` applies it):

| # | when | channel |
| --- | --- | --- |
| 1 | ``utm_medium`` is a paid medium (``cpc``, ``ppc``, ``paid``, ``paid_social``, ``display``, ...) or the page has an ad click id (``gclid``, ``gbraid``, ``wbraid``, ``msclkid``, ``dclid``) | ``paid`` |
| 2 | ``utm_medium`` is ``email``/``newsletter``, or the referrer is a web-mail host | ``email`` |
| 3 | ``utm_medium`` is ``social``, or the referrer (or ``utm_source``) is a social network | ``social`` |
| 4 | ``utm_medium`` is ``organic``, or the referrer is a search engine | ``search`` |
| 5 | ``utm_medium`` is ``referral``, or the referrer is any other external web page | ``referral`` |
| 6 | UTM parameters with a medium none of the above knows | ``other`` |
| 7 | nothing of the above (no referrer, the site's own pages, a referrer that is not a URL) | ``direct`` |

UTM values are percent-decoded (``winter%20sale`` and ``winter+sale`` are ``winter sale``),
trimmed, lower-cased and cut to ``UTM_MAX_CHARS``; a parameter given twice counts with its first
non-empty value. A referrer that is not an ``http(s)`` URL with a host counts as no referrer.
``campaign`` is ``utm_campaign`` or ``(none)``; ``source`` is ``utm_source``, else the referrer's
host (without ``www.``), else ``(direct)``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

UA_PARSE_CHARS = 512
UTM_MAX_CHARS = 100
UNKNOWN = "Unknown"
DEVICE_CLASSES = ("desktop", "mobile", "tablet", "bot", "unknown")
CHANNELS = ("search", "social", "email", "paid", "referral", "other", "direct")
NO_CAMPAIGN = "(none)"
DIRECT_SOURCE = "(direct)"

# Browser families of the parser that are programs, not people (the parser marks crawlers itself).
AUTOMATION_FAMILIES = frozenset(
    {"Python Requests", "Python-urllib", "curl", "Wget", "HeadlessChrome", "Go-http-client", "Java", "okhttp",
     "Apache-HttpClient", "PhantomJS", "aiohttp", "libwww-perl", "Scrapy"}
)  # fmt: skip
TABLET_DEVICES = ("iPad", "Kindle")
TABLET_BRANDS = ("Generic_Android_Tablet",)
MOBILE_OS = frozenset({"iOS", "Android", "iPadOS", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS", "Firefox OS"})
DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Fedora", "Debian", "Chrome OS", "ChromeOS", "FreeBSD",
     "OpenBSD", "NetBSD", "Solaris"}
)  # fmt: skip


@dataclass(frozen=True)
class UserAgentInfo:
    browser: str
    browser_version: str | None
    os: str
    device_class: str
    is_bot: bool


EMPTY_USER_AGENT = UserAgentInfo(UNKNOWN, None, UNKNOWN, "unknown", False)


def _version(major: str | None, minor: str | None) -> str | None:
    if not major:
        return None
    return f"{major}.{minor}" if minor else major


@functools.lru_cache(maxsize=1)
def _parser():
    """The parser with the best resolver installed (the Rust one when ``ua-parser-rs`` is there)."""
    import ua_parser

    return ua_parser.parser


def resolver_name() -> str:
    """Which implementation parses: ``rust`` (ua-parser-rs) or ``python`` (the regexes, pure Python)."""
    try:
        import ua_parser_rs  # noqa: F401

        return "rust"
    except ImportError:
        return "python"


@functools.lru_cache(maxsize=65_536)
def parse_user_agent(user_agent: str | None) -> UserAgentInfo:
    """Browser, version, OS, device class and bot flag of one user agent (rules: module docstring)."""
    text = (user_agent or "").strip()
    if not text:
        return EMPTY_USER_AGENT
    result = _parser().parse(text[:UA_PARSE_CHARS])
    ua, os_, device = result.user_agent, result.os, result.device
    browser = ua.family if ua else "Other"
    os_name = os_.family if os_ else "Other"
    is_bot = bool(device and device.family == "Spider") or browser in AUTOMATION_FAMILIES
    if is_bot:
        device_class = "bot"
    elif device and (device.family in TABLET_DEVICES or device.brand in TABLET_BRANDS):
        device_class = "tablet"
    elif os_name in MOBILE_OS:
        device_class = "mobile"
    elif os_name in DESKTOP_OS:
        device_class = "desktop"
    else:
        device_class = "unknown"
    return UserAgentInfo(browser, _version(ua.major, ua.minor) if ua else None, os_name, device_class, is_bot)


# -- acquisition ---------------------------------------------------------------------------------------

PAID_MEDIUMS = frozenset({"cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "paid_social", "paidsocial",
                          "paid-social", "display", "cpm", "cpv", "banner", "affiliate", "retargeting"})  # fmt: skip
EMAIL_MEDIUMS = frozenset({"email", "e-mail", "e_mail", "newsletter", "mail"})
SOCIAL_MEDIUMS = frozenset({"social", "social-network", "social_network", "social-media", "sm", "organic_social"})
SEARCH_MEDIUMS = frozenset({"organic", "seo"})
REFERRAL_MEDIUMS = frozenset({"referral", "link"})
CLICK_IDS = ("gclid", "gbraid", "wbraid", "msclkid", "dclid")
# Hosts by kind: a host matches a domain when it is the domain or ends with "." + domain; a name
# ending in "." matches any top-level domain after it (google.co.uk, google.de).
SEARCH_HOSTS = ("google.", "bing.com", "duckduckgo.com", "yahoo.", "baidu.com", "yandex.", "ecosia.org",
                "search.brave.com", "startpage.com", "qwant.com", "naver.com")  # fmt: skip
SOCIAL_HOSTS = ("facebook.com", "fb.com", "instagram.com", "t.co", "twitter.com", "x.com", "linkedin.com", "lnkd.in",
                "reddit.com", "pinterest.", "tiktok.com", "youtube.com", "threads.net", "mastodon.social", "bsky.app")  # fmt: skip
MAIL_HOSTS = ("mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com", "mail.example.com")
SOCIAL_SOURCES = frozenset({"facebook", "instagram", "twitter", "x", "linkedin", "reddit", "pinterest", "tiktok", "youtube"})
SITE_HOSTS = ("clickpipe-shop.example",)  # the site's own pages: a referrer from them is no acquisition


@dataclass(frozen=True)
class Acquisition:
    channel: str
    source: str
    medium: str | None
    campaign: str


def _host_matches(host: str, names: tuple[str, ...]) -> bool:
    for name in names:
        if name.endswith("."):  # any TLD: google.com, google.co.uk
            label = name[:-1]
            if host.startswith(label + ".") or f".{label}." in host:
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


def referrer_host(referrer: str | None) -> str | None:
    """The host of an ``http(s)`` referrer URL (lower case, no ``www.``); None when it is not one."""
    text = (referrer or "").strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:  # e.g. an invalid IPv6 literal or port
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return host.removeprefix("www.")


def utm_parameters(page: str | None) -> dict[str, str]:
    """The ``utm_*`` parameters and click ids of a page URL or path: decoded, trimmed, lower-cased,
    first non-empty value of a repeated parameter."""
    text = page or ""
    if "?" not in text:
        return {}
    query = text.split("?", 1)[1].split("#", 1)[0]
    out: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=False, errors="replace"):
        key = key.strip().lower()
        if not (key.startswith("utm_") or key in CLICK_IDS):
            continue
        value = value.strip().lower()[:UTM_MAX_CHARS]
        if value and key not in out:
            out[key] = value
    return out


@functools.lru_cache(maxsize=65_536)
def acquisition(page: str | None, referrer: str | None) -> Acquisition:
    """Channel, source, medium and campaign of a visit that landed on ``page`` from ``referrer``."""
    utm = utm_parameters(page)
    host = referrer_host(referrer)
    if host and _host_matches(host, SITE_HOSTS):
        host = None  # from the site itself: no acquisition of its own
    medium = utm.get("utm_medium")
    source = utm.get("utm_source") or host or DIRECT_SOURCE
    campaign = utm.get("utm_campaign") or NO_CAMPAIGN
    if medium in PAID_MEDIUMS or any(k in utm for k in CLICK_IDS):
        channel = "paid"
    elif medium in EMAIL_MEDIUMS or (not medium and host and _host_matches(host, MAIL_HOSTS)):
        channel = "email"
    elif medium in SOCIAL_MEDIUMS or (not medium and ((host and _host_matches(host, SOCIAL_HOSTS)) or source in SOCIAL_SOURCES)):
        channel = "social"
    elif medium in SEARCH_MEDIUMS or (not medium and host and _host_matches(host, SEARCH_HOSTS)):
        channel = "search"
    elif medium in REFERRAL_MEDIUMS or (not medium and host):
        channel = "referral"
    elif medium:
        channel = "other"
    else:
        channel = "direct"
    return Acquisition(channel, source, medium, campaign)


# -- the lookup tables and their join (Job 1 on either engine, Job 2 for old files) ------------------

ENRICHMENT_NULL_MARKER = "is_bot"  # NULL only in rows of a file written before enrichment existed
_PAGE_QUERY = "CASE WHEN instr({page}, '?') > 0 THEN substr({page}, instr({page}, '?') + 1) END"


_REFERRER_AUTHORITY = "coalesce(nullif(regexp_extract({referrer}, '^[^/?#]*://[^/?#]*', 0), ''), {referrer})"


def referrer_key_sql(referrer: str) -> str:
    """SQL (the same in DuckDB and Spark) for what ``acquisition`` reads of a referrer: its scheme
    and authority (up to the first ``/``, ``?`` or ``#`` after ``://``, where ``urlsplit``'s host
    ends), or the whole text without ``://``. The pages of the site as referrers share one row."""
    return _REFERRER_AUTHORITY.format(referrer=referrer)


def page_query_sql(page: str) -> str:
    """SQL (the same in DuckDB and Spark) for what ``acquisition`` reads of a page: the text after its
    first ``?`` (NULL without one). The lookup is keyed by it, not by the page, so the pages of a
    catalogue without UTM parameters share one row."""
    return _PAGE_QUERY.format(page=page)


def distinct_inputs_sql(source: str, *, user_agent: str = "user_agent", page: str = "page", referrer: str = "referrer") -> tuple[str, str]:
    """SQL of the distinct user agents, and of the distinct (page query, referrer key) pairs, of the
    rows of ``source`` (NULL as ''), each fetched once to build ``lookup_tables``."""
    agents = f"SELECT DISTINCT coalesce({user_agent}, '') FROM {source}"
    pairs = f"SELECT DISTINCT coalesce({page_query_sql(page)}, ''), coalesce({referrer_key_sql(referrer)}, '') FROM {source}"
    return agents, pairs


def lookups(fetch, source: str, *, user_agent: str = "user_agent", page: str = "page", referrer: str = "referrer"):
    """``lookup_tables`` for the rows of ``source``: its distinct inputs (``distinct_inputs_sql``)
    fetched with ``fetch`` (an engine's way to run a query and return its rows), each parsed once."""
    agents_sql, pairs_sql = distinct_inputs_sql(source, user_agent=user_agent, page=page, referrer=referrer)
    return lookup_tables([r[0] for r in fetch(agents_sql)], [tuple(r) for r in fetch(pairs_sql)])


def lookup_tables(user_agents: list[str], pairs: list[tuple[str, str]]):
    """Two Arrow tables: ``ua_key`` -> what the parser says (``parse_user_agent``), and
    (``query_key``, ``referrer_key``) -> channel, source, medium, campaign (``acquisition``)."""
    import pyarrow as pa

    infos = [parse_user_agent(ua or None) for ua in user_agents]
    found = [acquisition("?" + query if query else None, referrer or None) for query, referrer in pairs]
    agents = pa.table(
        {
            "ua_key": pa.array(user_agents, pa.string()),
            "browser": pa.array([i.browser for i in infos], pa.string()),
            "browser_version": pa.array([i.browser_version for i in infos], pa.string()),
            "os": pa.array([i.os for i in infos], pa.string()),
            "device_class": pa.array([i.device_class for i in infos], pa.string()),
            "is_bot": pa.array([i.is_bot for i in infos], pa.bool_()),
        }
    )
    acquisitions = pa.table(
        {
            "query_key": pa.array([q for q, _ in pairs], pa.string()),
            "referrer_key": pa.array([r for _, r in pairs], pa.string()),
            "channel": pa.array([a.channel for a in found], pa.string()),
            "source": pa.array([a.source for a in found], pa.string()),
            "medium": pa.array([a.medium for a in found], pa.string()),
            "campaign": pa.array([a.campaign for a in found], pa.string()),
        }
    )
    return agents, acquisitions


def enrich_sql(source: str, agents: str, acquisitions: str, columns: list[str]) -> str:
    """The rows of ``source`` (its ``columns``, then the enrichment columns in the contract's order),
    joined to the lookup tables ``agents`` and ``acquisitions`` built from them (every row matches)."""
    from clickpipe_core.contracts import ENRICHMENT_COLUMNS

    from_agent = {f.name for f in dataclasses.fields(UserAgentInfo)}
    table = {c.name: ("u" if c.name in from_agent else "a") for c in ENRICHMENT_COLUMNS}
    picked = ", ".join([*(f"c.{n}" for n in columns), *(f"{t}.{n}" for n, t in table.items())])
    return (
        f"SELECT {picked} FROM {source} c "
        f"LEFT JOIN {agents} u ON u.ua_key = coalesce(c.user_agent, '') "
        f"LEFT JOIN {acquisitions} a ON a.query_key = coalesce({page_query_sql('c.page')}, '') "
        f"AND a.referrer_key = coalesce({referrer_key_sql('c.referrer')}, '')"
    )


def page_path(page: str | None) -> str:
    """A page without its query string and fragment (what paths and landing pages group by)."""
    return (page or "").split("?", 1)[0].split("#", 1)[0] or "/"
