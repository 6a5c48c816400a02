"""``clickpipe simulate`` into the local Firehose vs the bare floor, in the same run.

    python -m bench.simulate [--events 500000] [--repeats 3] [--compresslevel 1] [--codec isal]

(a) floor, standard library: ``json.dumps`` + newline + ``gzip.compress`` (zlib) of pre-built
    event dicts, cut into 5 MiB objects and written with a plain ``open().write`` -- no
    generation, no buffering rules, no atomic publish. The dicts are the generator's own events,
    built before the clock starts (100k of them, reused in turn, to keep memory flat).
(a') the same floor with ISA-L's ``igzip.compress`` instead of zlib: the gzip clickpipe uses by
    default, so the floor of the same work with the same compressor.
(b) generator only: the click generator's records, sent nowhere (where the time goes).
(c) clickpipe simulate: generator -> producer batches -> local Firehose (size/time buffering,
    Firehose keys by simulated arrival, gzip and atomic put_bytes on the Firehose's writer
    thread, overlapping the generator on the second core) -- what ``clickpipe simulate``
    runs after start-up, measured through ``clickpipe_dagster.simulate.simulate``. Over three
    days the 300 s buffer interval cuts an object every five simulated minutes (~900 objects).
(d) the same squeezed into one hour, with no late sessions (they would arrive over the next
    day): objects are cut by the 5 MiB size, as the floor cuts them, so both write about as many
    files (creating a file costs ~0.5 ms on this disk).

Each runs ``--repeats`` times, interleaved, each time in a fresh process; the best run counts
(this box is shared, so slow runs measure the neighbours). Wall and CPU time are both reported.
Same gzip level for all (``--codec`` picks clickpipe's gzip; the floors are named by theirs).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START, END, ONE_HOUR = "2026-11-01", "2026-11-04", "2026-11-01T01:00:00"
OBJECT_BYTES = 5 * 1024 * 1024
POOL = 100_000


def floor(dicts: list[dict], events: int, out: Path, level: int, codec: str = "zlib") -> int:
    out.mkdir(parents=True, exist_ok=True)
    if codec == "zlib":
        compress = gzip.compress
    else:
        from isal.igzip import compress
    dumps = json.dumps
    buf, size, n, written = [], 0, len(dicts), 0
    for i in range(events):
        line = (dumps(dicts[i % n], ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        buf.append(line)
        size += len(line)
        if size >= OBJECT_BYTES:
            (out / f"{written:06d}.gz").write_bytes(compress(b"".join(buf), compresslevel=level, mtime=0))
            written, buf, size = written + 1, [], 0
    if buf:
        (out / f"{written:06d}.gz").write_bytes(compress(b"".join(buf), compresslevel=level, mtime=0))
    return events


def generator_only(events: int) -> int:
    from clickpipe_core.generator.clicks import ClickGenerator

    gen = ClickGenerator(events=events, start=START, end=END, users=10_000, seed=1, duplicate_share=0)
    return sum(len(batch) for batch in gen)


def clickpipe(events: int, out: Path, level: int, codec: str, end: str = END, late_share: float = 0.05) -> int:
    from clickpipe_dagster.resources.lake import LocalLakeResource
    from clickpipe_dagster.resources.stream import LocalFirehoseResource
    from clickpipe_dagster.simulate import simulate

    stream = LocalFirehoseResource(lake=LocalLakeResource(root=str(out)), compresslevel=level, gzip_codec=codec)
    m = simulate(events=events, start=START, end=end, users=10_000, seed=1, late_share=late_share, duplicate_share=0,
                 stream=stream, progress=False)  # fmt: skip
    return m["records"]


STEPS = ("floor: json.dumps + zlib gzip", "floor: json.dumps + ISA-L gzip", "generator only", "clickpipe simulate",
         "clickpipe simulate, 1 h")


def timed(fn, *args) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, n


def run_step(step: int, events: int, level: int, codec: str) -> dict:
    """One measurement, in this (fresh) process; what is built before the clock starts is not timed."""
    name = STEPS[step]
    out = Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    try:
        if step in (0, 1):
            from clickpipe_core.generator.clicks import ClickGenerator

            pool = ClickGenerator(
                events=min(POOL, events), start=START, end=END, users=10_000, seed=1, duplicate_share=0
            )
            dicts = list(pool.records())  # pre-built
            wall, cpu, n = timed(floor, dicts, events, out, level, "zlib" if step == 0 else "isal")
        elif step == 2:
            wall, cpu, n = timed(generator_only, events)
        elif step == 3:
            import clickpipe_dagster.resources.stream  # noqa: F401  (start-up, not throughput: Dagster imports in ~1 s)

            wall, cpu, n = timed(clickpipe, events, out, level, codec)
        else:
            import clickpipe_dagster.resources.stream  # noqa: F401

            wall, cpu, n = timed(clickpipe, events, out, level, codec, ONE_HOUR, 0.0)
        assert n == events, (name, n)
        return {"wall": wall, "cpu": cpu, "objects": sum(1 for _ in out.rglob("*.gz"))}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compresslevel", type=int, default=1, help="gzip level of every step (ISA-L takes 0-3)")
    p.add_argument("--codec", choices=("isal", "zlib"), default="isal", help="clickpipe's gzip (default: its own)")
    p.add_argument("--step", type=int, default=None, help=argparse.SUPPRESS)  # internal: one measurement
    args = p.parse_args(argv)
    if args.step is not None:
        print(json.dumps(run_step(args.step, args.events, args.compresslevel, args.codec)))
        return ""

    # Every measurement in a fresh interpreter (like `clickpipe simulate` itself), interleaved.
    runs: dict[str, list[dict]] = {name: [] for name in STEPS}
    for _ in range(args.repeats):
        for step, name in enumerate(STEPS):
            done = subprocess.run(
                [sys.executable, "-m", "bench.simulate", "--step", str(step), "--events", str(args.events),
                 "--compresslevel", str(args.compresslevel), "--codec", args.codec],
                capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
            )  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))

    floor_wall = min(r["wall"] for r in runs[STEPS[0]])
    lines = [
        f"clickpipe simulate -> local Firehose ({args.codec} gzip), {args.events:,} events, gzip level {args.compresslevel}, "
        f"best of {args.repeats} (each run in a fresh process)",
        f"{'implementation':<32}{'events/s (wall)':>17}{'events/s (cpu)':>16}{'median wall s':>15}{'objects':>9}"
        f"{'x floor':>9}",
    ]
    for name, rs in runs.items():
        wall, cpu = min(r["wall"] for r in rs), min(r["cpu"] for r in rs)
        med = statistics.median(r["wall"] for r in rs)
        lines.append(
            f"{name:<32}{args.events / wall:>17,.0f}{args.events / cpu:>16,.0f}{med:>15.2f}{rs[0]['objects']:>9,}"
            f"{floor_wall / wall:>9.2f}"
        )
    sim = min(r["wall"] for r in runs["clickpipe simulate"])
    isal_floor_wall = min(r["wall"] for r in runs[STEPS[1]])
    lines.append(
        f"clickpipe simulate: {args.events / sim:,.0f} events/s = {floor_wall / sim:.2f}x the zlib floor's throughput, "
        f"{isal_floor_wall / sim:.2f}x the ISA-L floor's (target >= 200,000 events/s)"
    )
    report = "\n".join(lines)
    print(report)
    return report


if __name__ == "__main__":
    main()
