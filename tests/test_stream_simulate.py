"""The stream resources per environment, ``simulate_clicks`` for the demo, live pacing, the CLI."""

from __future__ import annotations

import gzip
import json
import os
import select
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
from stream_fixtures import CREDENTIALS, REGION, client, moto_endpoint, new_stream, read_stream  # noqa: F401

from clickpipe_dagster.definitions import build_definitions
from clickpipe_dagster.environments import resolved, resources_for
from clickpipe_core.generator.batch import generate
from clickpipe_core.generator.clicks import BOT_ID_PREFIX
from clickpipe_dagster.resources.lake import LocalLakeResource
from clickpipe_dagster.resources.stream import KinesisStreamResource, LocalFirehoseResource
from clickpipe_dagster.simulate import simulate, simulate_clicks
from clickpipe_core.streaming import KinesisSink, LocalFirehose
from clickpipe_core import layout
from clickpipe_core.lake_store import LocalStore

ROOT = Path(__file__).parents[1]


def lake_records(root: Path) -> dict[str, list[dict]]:
    store = LocalStore(root)
    return {o.key: [json.loads(x) for x in gzip.decompress(store.read_bytes(o.key)).splitlines()]
            for o in store.list("raw/clicks/")}  # fmt: skip


def test_local_stream_is_a_firehose_into_the_lake(tmp_path, monkeypatch):
    monkeypatch.setenv("CLICKPIPE_HOME", str(tmp_path))
    res = resources_for("local")
    stream = res["stream"]
    assert isinstance(stream, LocalFirehoseResource) and stream.stream_name == "clickpipe-clicks"
    assert (stream.buffer_mib, stream.buffer_seconds) == (5.0, 300.0)  # Firehose's defaults
    dg.Definitions.validate_loadable(build_definitions("local"))
    with stream.open_sink() as sink:
        assert isinstance(sink, LocalFirehose)
        sink.put([{"n": 1}])
    (key,) = lake_records(tmp_path / "lake")
    assert layout.parse_raw_clicks_key(key) == datetime.now(timezone.utc).date().isoformat()
    lake = LocalLakeResource(root=str(tmp_path))
    for bad in ({"buffer_seconds": 901}, {"buffer_mib": 0}, {"buffer_mib": 129}, {"compresslevel": 10},
                {"gzip_codec": "brotli"}):
        with pytest.raises(Exception, match="validation error"):  # Firehose's own limits
            LocalFirehoseResource(lake=lake, **bad)
    with pytest.raises(Exception, match="validation error"):
        KinesisStreamResource(stream_name="s", partition_by="country")


def test_aws_stream_is_kinesis_built_from_the_environment(monkeypatch, moto_endpoint, aws_settings):
    kinesis = client(moto_endpoint)
    name = new_stream(kinesis, shards=1)
    for k, v in {"CLICKPIPE_KINESIS_STREAM": name, "AWS_REGION": REGION, "AWS_ENDPOINT_URL_KINESIS": moto_endpoint,
                 "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
                 "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"]}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    configured = resources_for("aws")["stream"]
    # the configuration names the variables; their values are read when the resource is used
    assert isinstance(configured, KinesisStreamResource) and configured.stream_name == "CLICKPIPE_KINESIS_STREAM"
    stream = resolved(configured)
    assert stream.stream_name == name and stream.endpoint_url == moto_endpoint
    dg.Definitions.validate_loadable(build_definitions("aws"))
    m = simulate_clicks(["2026-11-01"], events_per_day=700, stream=stream)
    got = read_stream(kinesis, name)
    assert len(got) == m["records"] and m["sink"]["records_sent"] == m["records"] and m["objects"] == []
    monkeypatch.delenv("CLICKPIPE_KINESIS_STREAM")
    with pytest.raises(ValueError, match="CLICKPIPE_KINESIS_STREAM"):
        resources_for("aws")  # a deployment without it does not load
    with pytest.raises(ValueError, match="CLICKPIPE_KINESIS_STREAM must be set"):
        resolved(configured)  # nor does a command use it


def test_simulate_clicks_for_the_demo_days(tmp_path):
    sample = generate(tmp_path / "sample", days=2, users=200, transactions_per_day=0, seed=7, dirty_rate=0.05)
    stream = LocalFirehoseResource(
        lake=LocalLakeResource(root=str(tmp_path / "lake")), buffer_mib=0.25, buffer_seconds=60
    )
    m = simulate_clicks(
        sample.days, events_per_day=4000, users=sample.users_file, seed=7, late_share=0.1, stream=stream
    )
    assert m["events"] == 8000 and m["mode"] == "backfill" and m["events_per_second"] > 0
    assert list(m["event_days"]) == sample.days and set(sample.days) < set(m["arrival_days"])
    got = lake_records(tmp_path / "lake")
    assert sorted(got) == sorted(m["objects"]) and sum(map(len, got.values())) == m["records"]
    assert {layout.parse_raw_clicks_key(k) for k in got} == set(m["arrival_days"])
    users = {r.split(",")[0] for r in sample.users_file.read_text().splitlines()[1:]}
    assert {e["user_id"] for v in got.values() for e in v if not e["user_id"].startswith(BOT_ID_PREFIX)} <= users

    # The same run again replaces its own objects: same keys, same bytes, nothing doubled.
    before = {k: LocalStore(tmp_path / "lake").read_bytes(k) for k in got}
    simulate_clicks(sample.days, events_per_day=4000, users=sample.users_file, seed=7, late_share=0.1, stream=stream)
    after = {
        o.key: LocalStore(tmp_path / "lake").read_bytes(o.key)
        for o in LocalStore(tmp_path / "lake").list("raw/clicks/")
    }
    assert after == before
    with pytest.raises(ValueError, match="consecutive"):
        simulate_clicks(["2026-11-01", "2026-11-03"], stream=stream)


def test_live_traffic_is_paced_by_the_wall_clock(tmp_path):
    stream = LocalFirehoseResource(lake=LocalLakeResource(root=str(tmp_path / "lake")), buffer_seconds=1)
    started = time.time()
    m = simulate(rate=400, duration=1.5, stream=stream, late_share=0, duplicate_share=0, progress=False)
    took = time.time() - started
    assert m["mode"] == "live" and m["events"] == 600 and 1.3 <= m["seconds"] and took < 30
    got = lake_records(tmp_path / "lake")
    assert len(got) >= 2  # the 1 s interval cut the stream into objects as it flowed
    for key, events in got.items():
        arrival = datetime.strptime(key.rsplit("clickpipe-clicks-1-", 1)[1][:19], "%Y-%m-%d-%H-%M-%S").replace(
            tzinfo=timezone.utc
        )
        assert started - 1 <= arrival.timestamp() <= started + took + 1  # named by real arrival time
        for e in events:
            assert datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp() <= arrival.timestamp() + 2


def test_simulate_refuses_mixed_modes(tmp_path):
    stream = LocalFirehoseResource(lake=LocalLakeResource(root=str(tmp_path)))
    with pytest.raises(ValueError, match="live stream takes rate and duration"):
        simulate(rate=10, events=5, stream=stream)
    with pytest.raises(ValueError, match="backfill takes events, start and end"):
        simulate(events=5, stream=stream)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLICKPIPE_HOME": str(home), "CLICKPIPE_ENV": "local"}
    return subprocess.run([sys.executable, "-m", "clickpipe_dagster.cli", "simulate", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)  # fmt: skip


def test_cli_simulate_backfill_and_usage_errors(tmp_path):
    done = _cli(tmp_path, "--events", "3000", "--start", "2026-11-02", "--end", "2026-11-02", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert "throughput:" in done.stdout and "events/s" in done.stdout and "3,000 in" in done.stdout
    got = lake_records(tmp_path / "lake")
    events = [e for v in got.values() for e in v]
    assert len({e["event_id"] for e in events}) == 3000
    assert {e["ts"][:10] for e in events} == {"2026-11-02"}  # --end as a date includes that day

    for args, message in [(["--rate", "5"], "--rate and --duration go together"),
                          (["--rate", "5", "--duration", "1", "--days", "2"], "cannot be used with --rate"),
                          (["--end", "2026-11-05", "--days", "2"], "not both"),
                          (["--start", "yesterday"], "is not a date")]:  # fmt: skip
        bad = _cli(tmp_path, *args)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)


def test_kinesis_sink_from_the_resource_uses_its_settings(monkeypatch, moto_endpoint):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    res = KinesisStreamResource(stream_name="s", region_name=REGION, endpoint_url=moto_endpoint, partition_by="session_id",
                                max_attempts=3)  # fmt: skip
    sink = res.open_sink()
    assert isinstance(sink, KinesisSink) and sink.partition_by == "session_id" and sink.max_attempts == 3
    assert sink.client.meta.endpoint_url == moto_endpoint and sink.client.meta.region_name == REGION


def test_cli_sigterm_flushes_the_buffer(tmp_path):
    env = {**os.environ, "CLICKPIPE_HOME": str(tmp_path), "CLICKPIPE_ENV": "local"}
    proc = subprocess.Popen([sys.executable, "-m", "clickpipe_dagster.cli", "simulate", "--rate", "300", "--duration", "60"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    err = b""
    try:
        deadline = time.time() + 120
        while b"clicks:" not in err and time.time() < deadline:  # the progress bar: traffic is flowing
            ready, _, _ = select.select([proc.stderr], [], [], 1.0)
            if ready:
                err += os.read(proc.stderr.fileno(), 4096)
        time.sleep(2)  # a couple of seconds of traffic, all still in the 300 s buffer
        proc.terminate()
        _, rest = proc.communicate(timeout=60)
    finally:
        proc.kill()
    err = (err + rest).decode()
    assert proc.returncode == 130 and "interrupted; what was buffered has been delivered" in err, err[-2000:]
    got = lake_records(tmp_path / "lake")
    assert got and sum(map(len, got.values())) > 100  # the 300 s buffer went out on SIGTERM
