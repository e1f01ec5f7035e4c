#!/usr/bin/env python3
"""End-to-end pipeline benchmark: events/s through rstash, and startup time to the first event.

Runs each case several times side by side in one run and prints medians, so that figures can be
compared as ratios on a noisy machine. Usage: bench/pipeline.py [path/to/rstash] [events]
"""
import os
import statistics
import subprocess
import sys
import time

RSTASH = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "release", "rstash")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
ROUNDS = 3

CASES = {
    "runtime: generator -> null (1 worker)": (
        ["-w", "1"], "input { generator { count => %d } } output { null {} }" % N),
    "generator -> mutate -> stdout json_lines (1 worker)": (
        ["-w", "1"],
        "input { generator { count => %d } } filter { mutate { add_field => { 'k' => '%%{sequence}' } "
        "convert => { 'sequence' => 'string' } uppercase => ['message'] } } "
        "output { stdout { codec => json_lines } }" % N),
    "generator -> mutate -> stdout json_lines (2 workers)": (
        ["-w", "2"],
        "input { generator { count => %d } } filter { mutate { add_field => { 'k' => '%%{sequence}' } "
        "convert => { 'sequence' => 'string' } uppercase => ['message'] } } "
        "output { stdout { codec => json_lines } }" % N),
}


def throughput(args, config):
    start = time.perf_counter()
    subprocess.run([RSTASH, *args, "-e", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return N / (time.perf_counter() - start)


def startup():
    """Seconds from exec to the first event's byte on stdout."""
    start = time.perf_counter()
    p = subprocess.Popen([RSTASH, "-e", "input { generator { count => 1 } } output { stdout { codec => dots } }"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.read(1)
    first = time.perf_counter() - start
    p.wait()
    return first


def main():
    results = {name: [] for name in CASES}
    for _ in range(ROUNDS):
        for name, (args, config) in CASES.items():
            results[name].append(throughput(args, config))
    print(f"{N} events per run, median of {ROUNDS} interleaved runs")
    base = statistics.median(results[next(iter(CASES))])
    for name, vals in results.items():
        m = statistics.median(vals)
        print(f"  {name:<55} {m:>12,.0f} events/s  ({m / base:.2f}x of runtime-only)")
    starts = sorted(startup() for _ in range(11))
    print(f"  startup to first event (rstash -e): median {statistics.median(starts) * 1000:.1f} ms, "
          f"min {starts[0] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
