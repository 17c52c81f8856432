"""Times DuckDB and Spark on the store bench/run-batch benchmarked, checks that they and
carlambda's published batch view agree, and prints the table of times and ratios.

Run by bench/compare; see bench/README.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_engine(engine, store, out):
    """Runs engines.py for `engine` as its own process, writing its result to `out`; returns
    the seconds it took from launch."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, os.path.join(HERE, "engines.py"), engine, store, out], check=True
    )
    return time.monotonic() - started


def timed_engine(engine, store, workdir, runs):
    """Runs `engine` once to warm up and `runs` times counted; returns (the median seconds,
    the result)."""
    out = os.path.join(workdir, f"{engine}.json")
    run_engine(engine, store, out)
    took = [run_engine(engine, store, out) for _ in range(runs)]
    with open(out) as f:
        return statistics.median(took), json.load(f)


def result_of(engine, store, workdir):
    """What `engine` computes, from one run."""
    out = os.path.join(workdir, f"{engine}.json")
    run_engine(engine, store, out)
    with open(out) as f:
        return json.load(f)


PARSERS = ("serde-json", "sonic-rs")


def floor(bench_bin, store, runs):
    """The parse floor at 1 and 2 threads with each parser, {(parser, threads): figures}: of
    `runs` passes, the one of median time."""
    passes = {}
    for _ in range(runs):
        for parser in PARSERS:
            done = subprocess.run(
                [bench_bin, "floor", os.path.join(store, "raw"), "--threads", "1,2",
                 "--parser", parser],
                check=True,
                capture_output=True,
                text=True,
            )
            for r in map(json.loads, done.stdout.splitlines()):
                passes.setdefault((parser, r["threads"]), []).append(r)
    return {
        key: sorted(figures, key=lambda r: r["seconds"])[len(figures) // 2]
        for key, figures in passes.items()
    }


def differences(name, reference, other):
    """Human lines for each way `other`'s result differs from `reference`'s."""
    lines = []
    for table, rows in reference["tables"].items():
        if other["tables"][table] != rows:
            lines.append(f"{name}: {table} has {other['tables'][table]} rows, not {rows}")
    for view in ("body_style_counts", "model_year_counts"):
        want = {json.dumps(r) for r in reference[view]}
        got = {json.dumps(r) for r in other[view]}
        if want != got or len(reference[view]) != len(other[view]):
            missing, extra = sorted(want - got)[:3], sorted(got - want)[:3]
            lines.append(f"{name}: {view} differs; missing {missing}, extra {extra}")
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--batch", required=True, help="bench/run-batch's JSON result")
    parser.add_argument("--bench-bin", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--skip", action="append", default=[])
    parser.add_argument("--runs", type=int, default=3, help="counted runs of each engine")
    args = parser.parse_args()

    with open(args.batch) as f:
        batch = json.load(f)
    floors = floor(args.bench_bin, args.store, args.runs)

    with tempfile.TemporaryDirectory(prefix="carlambda-compare-") as workdir:
        reference = result_of("carlambda", args.store, workdir)
        times = {"carlambda": batch["wall_seconds"]}
        results = {}
        for engine in ("duckdb", "spark"):
            if engine in args.skip:
                continue
            print(f"bench/compare: running {engine}", file=sys.stderr)
            times[engine], results[engine] = timed_engine(engine, args.store, workdir, args.runs)

    problems = []
    for engine, result in results.items():
        problems += differences(engine, reference, result)

    mb = batch["bytes"] / 1e6
    print()
    print(
        f"workload: {batch['polls']} polls, seed {batch['seed']}: {batch['objects']} objects, "
        f"{mb:.1f} MB, {batch['records']} records, {batch['snapshots']} snapshots"
    )
    print(f"rows (carlambda): {json.dumps(reference['tables'])}")
    print()
    print(f"wall times: medians of {args.runs} runs after one to warm up "
          f"(carlambda: {batch['runs']}, {batch['wall_min']:.2f} to {batch['wall_max']:.2f} s)")
    print(f"{'engine':<28}{'wall s':>9}{'MB/s':>9}{'records/s':>12}{'x carlambda':>13}")
    rows = [("carlambda batch --workers 2", times["carlambda"])]
    rows += [(f"duckdb (threads=2)", times["duckdb"])] if "duckdb" in times else []
    rows += [(f"spark local[2]", times["spark"])] if "spark" in times else []
    for parser in PARSERS:
        for threads in (2, 1):
            seconds = floors[(parser, threads)]["seconds"]
            rows.append((f"floor {parser}, {threads} thr", seconds))
    for name, seconds in rows:
        print(
            f"{name:<28}{seconds:>9.2f}{mb / seconds:>9.1f}{batch['records'] / seconds:>12.0f}"
            f"{seconds / times['carlambda']:>13.2f}"
        )
    print()
    print(f"peak RSS of the batch: {batch['peak_rss_mb']:.1f} MB")
    targets = []
    if "duckdb" in times:
        ratio = times["duckdb"] / times["carlambda"]
        targets.append(("duckdb / carlambda >= 3", ratio, ratio >= 3))
    if "spark" in times:
        ratio = times["spark"] / times["carlambda"]
        targets.append(("spark / carlambda >= 50", ratio, ratio >= 50))
    # The floor is the cheaper of the two parsers: merely parsing, done as fast as we can.
    fastest = min(floors[(parser, 2)]["seconds"] for parser in PARSERS)
    ratio = times["carlambda"] / fastest
    targets.append(("carlambda / floor(2 threads) <= 1.5", ratio, ratio <= 1.5))
    for name, value, met in targets:
        print(f"target {name:<38} {value:8.2f}  {'met' if met else 'MISSED'}")
    print()
    if problems:
        print("the engines DISAGREE:")
        for line in problems:
            print(f"  {line}")
    else:
        engines = ", ".join(["carlambda"] + list(results))
        print(f"the engines agree ({engines}): row counts of all five tables, and the full")
        print("contents of body_style_counts and model_year_counts")

    with open(args.out, "w") as f:
        json.dump(
            {
                "batch": batch,
                "floor": {f"{p} {t}": r for (p, t), r in floors.items()},
                "times": times,
                "rows": reference["tables"],
                "agree": not problems,
                "problems": problems,
            },
            f,
            indent=1,
        )
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
