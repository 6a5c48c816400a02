"""Enrichment rules (clickpipe_core/enrichment.py): user agents through ua-parser, acquisition by the
documented rule table, and bad input that gives a row by a stated rule, never an exception."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest

from clickpipe_core import enrichment as en
from clickpipe_core.generator.clicks import BOT_USER_AGENTS, REFERRERS, USER_AGENTS

CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Mobile/15E148 Safari/604.1")  # fmt: skip
IPAD = IPHONE.replace("iPhone; CPU iPhone OS", "iPad; CPU OS")
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


@pytest.mark.parametrize(
    "ua, expected",
    [
        (CHROME_WIN, ("Chrome", "131.0", "Windows", "desktop", False)),
        (IPHONE, ("Mobile Safari", "18.1", "iOS", "mobile", False)),
        (IPAD, ("Mobile Safari", "18.1", "iOS", "tablet", False)),
        (ANDROID_TABLET, ("Chrome", "131.0", "Android", "tablet", False)),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", ("Firefox", "133.0", "Linux", "desktop", False)),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", ("Googlebot", "2.1", "Other", "bot", True)),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", ("AhrefsBot", "7.0", "Other", "bot", True)),
        ("python-requests/2.31.0", ("Python Requests", "2.31", "Other", "bot", True)),
        ("", ("Unknown", None, "Unknown", "unknown", False)),
        (None, ("Unknown", None, "Unknown", "unknown", False)),
        ("   ", ("Unknown", None, "Unknown", "unknown", False)),
        ("¯\\_(ツ)_/¯ definitely a browser", ("Other", None, "Other", "unknown", False)),
    ],
)
def test_user_agents_by_the_rule_table(ua, expected):
    info = en.parse_user_agent(ua)
    assert (info.browser, info.browser_version, info.os, info.device_class, info.is_bot) == expected


def test_a_2kb_user_agent_is_parsed_on_its_first_characters_only():
    long_ua = CHROME_WIN + " " + "x" * 2048
    assert en.parse_user_agent(long_ua) == en.parse_user_agent(CHROME_WIN + " " + "x" * (en.UA_PARSE_CHARS - len(CHROME_WIN) - 1))
    assert en.parse_user_agent("A" * 2048).device_class == "unknown"


def test_every_generator_user_agent_gets_its_device_and_every_bot_is_flagged():
    for device, uas in USER_AGENTS.items():
        for ua in uas:
            info = en.parse_user_agent(ua)
            assert info.device_class == device and not info.is_bot, (ua, info)
    for ua in BOT_USER_AGENTS:
        assert en.parse_user_agent(ua).is_bot, ua


@pytest.mark.parametrize(
    "page, referrer, expected",
    [
        ("/", None, ("direct", "(direct)", None, "(none)")),
        ("/", "https://www.google.com/", ("search", "google.com", None, "(none)")),
        ("/", "https://www.google.co.uk/search?q=x", ("search", "google.co.uk", None, "(none)")),
        ("/?utm_source=google&utm_medium=cpc&utm_campaign=brand", "https://www.google.com/", ("paid", "google", "cpc", "brand")),
        ("/c/shoes?gclid=abc", "https://www.google.com/", ("paid", "google.com", None, "(none)")),
        ("/?utm_source=newsletter&utm_medium=email&utm_campaign=weekly_deals", "https://mail.example.com/",
         ("email", "newsletter", "email", "weekly_deals")),
        ("/", "https://mail.google.com/mail/u/0/", ("email", "mail.google.com", None, "(none)")),
        ("/", "https://t.co/", ("social", "t.co", None, "(none)")),
        ("/?utm_source=facebook&utm_medium=social&utm_campaign=winter_sale", "https://www.facebook.com/",
         ("social", "facebook", "social", "winter_sale")),
        ("/", "https://news.ycombinator.example/item?id=4242", ("referral", "news.ycombinator.example", None, "(none)")),
        ("/?utm_source=partner&utm_medium=podcast", None, ("other", "partner", "podcast", "(none)")),
        ("/", "https://www.clickpipe-shop.example/c/shoes", ("direct", "(direct)", None, "(none)")),
    ],
)
def test_channels_by_the_rule_table(page, referrer, expected):
    a = en.acquisition(page, referrer)
    assert (a.channel, a.source, a.medium, a.campaign) == expected


@pytest.mark.parametrize("referrer", ["not a url", "www.google.com", "javascript:alert(1)", "http://", "https://[::1", "::::", "ftp://x.org/"])
def test_a_referrer_that_is_not_a_url_counts_as_none(referrer):
    assert en.referrer_host(referrer) is None
    assert en.acquisition("/", referrer).channel == "direct"


def test_utm_parameters_are_decoded_trimmed_and_the_first_value_wins():
    assert en.utm_parameters("/p?utm_campaign=Winter%20Sale&utm_campaign=other&utm_source=+News+Letter+") == {
        "utm_campaign": "winter sale",
        "utm_source": "news letter",
    }
    assert en.utm_parameters("/p?utm_campaign=&utm_campaign=second") == {"utm_campaign": "second"}
    assert en.utm_parameters("/p?utm_campaign=%E2%82%AC10%20off") == {"utm_campaign": "€10 off"}
    assert en.utm_parameters("/p?utm_campaign=%zz%E2") == {"utm_campaign": "%zz\ufffd"}  # broken escapes: kept, replaced
    assert en.utm_parameters("/p?utm_source=" + "a" * 500)["utm_source"] == "a" * en.UTM_MAX_CHARS
    assert en.utm_parameters("/p#utm_source=x") == {} and en.utm_parameters(None) == {}


def test_every_generator_referrer_gets_the_channel_its_tags_say():
    expected = {"google.com": "search", "bing.com": "search", "duckduckgo.com": "search", "t.co": "social"}
    for url, _, utm in REFERRERS:
        page = "/?" + "&".join(f"{k}={v}" for k, v in utm.items()) if utm else "/"
        a = en.acquisition(page, url)
        if utm:
            medium = utm["utm_medium"]
            assert a.channel == {"cpc": "paid", "social": "social", "email": "email", "paid_social": "paid"}.get(medium, a.channel)
            assert a.campaign == unquote_plus(utm["utm_campaign"])  # written percent-encoded, read decoded
        elif url is None:
            assert a.channel == "direct"
        elif en.referrer_host(url) in expected:
            assert a.channel == expected[en.referrer_host(url)]
        assert a.channel in en.CHANNELS


def test_page_path_drops_query_and_fragment():
    assert en.page_path("/c/shoes?utm_source=x#top") == "/c/shoes"
    assert en.page_path("") == "/" and en.page_path(None) == "/"


AWKWARD_REFERRERS = [
    None, "", "not a url", "https://www.google.com/search?q=x", "https://www.google.com", "https://www.google.com?x#y",
    "HTTPS://User:pw@Mail.Google.com:443/u/0/", "http://[::1]:80/x", "https://[::1/", "  https://t.co/abc  ",
    "https://clickpipe-shop.example/p/1", "ftp://www.google.com/", "a:b://www.google.com/x", "ht tp://bing.com/",
    "https:/\n/bing.com/", "https://bi\tng.com/x", "//www.google.com/x", "https://www.facebook.com#frag://x/y",
    "https://news.ycombinator.com:8443?utm_medium=email",
]  # fmt: skip
AWKWARD_PAGES = ["/", "/p?utm_medium=cpc", "/p?", "/?a=1?utm_medium=email", "/x#utm_medium=social", "/?UTM_SOURCE=Facebook"]


def test_the_lookup_keys_keep_everything_acquisition_reads():
    """Job 1 joins acquisitions on (the page's query string, the referrer's scheme and authority),
    computed in SQL: every page and referrer gets the answer ``acquisition`` gives for it whole."""
    import duckdb

    con = duckdb.connect()
    rows = [(p, r) for p in AWKWARD_PAGES for r in AWKWARD_REFERRERS]
    con.execute("CREATE TABLE t (page VARCHAR, referrer VARCHAR, user_agent VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, NULL)", rows)
    agents, acquisitions = en.lookups(lambda sql: con.execute(sql).fetchall(), "t")
    assert acquisitions.num_rows < len(rows)  # the keys do collapse
    con.register("agents", agents)
    con.register("acquisitions", acquisitions)
    got = con.execute(en.enrich_sql("t", "agents", "acquisitions", ["page", "referrer"])).fetchall()
    assert len(got) == len(rows)
    for page, referrer, _browser, _version, _os, _device, _bot, *acq in got:
        assert tuple(acq) == tuple(vars(en.acquisition(page, referrer)).values()), (page, referrer)
