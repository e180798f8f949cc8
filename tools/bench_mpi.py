#!/usr/bin/env python3
"""Distributed solves (`mpirun -np P eot solve`): time per iteration and memory per rank.

Usage: tools/bench_mpi.py [EOT] [--n 20000] [--m M] [--d 2] [--repeats 3] [--busy K]
                          [--memory 20000,40000,80000]

Point clouds of n and m (default n) uniform points in [0, 1]^d (.npy), epsilon 1e-3, log domain. The time
of one iteration is the difference of solve_time_seconds between runs of 12 and 2 iterations
(divided by 10): what the passes and the communication take, without reading the files or
the final evaluation. Configurations: 1 rank with 1 thread, 2 ranks with 1 thread each (the
same two cores split by rows instead of threads), and 1 rank with 2 threads for comparison.
Each is repeated; the best and the median are printed. --busy K runs K CPU-bound processes
beside every run. --memory: peak resident memory of the largest rank (getrusage), 1 and 2
ranks, one iteration, at each n = m.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from busy import busy  # noqa: E402

MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root", "--bind-to", "none"]


def command(eot, x, y, ranks, threads, iterations):
    solve = [eot, "solve", "--x", x, "--y", y, "--epsilon", "1e-3", "--domain", "log",
             "--newton", "off", "--max-iterations", str(iterations), "--threads", str(threads),
             "--json"]
    return [*MPIRUN, "-np", str(ranks), *solve] if ranks > 1 else solve


def solve_time(eot, x, y, ranks, threads, iterations):
    out = subprocess.run(command(eot, x, y, ranks, threads, iterations), capture_output=True,
                         text=True)
    if out.returncode not in (0, 3):
        sys.exit(out.stderr)
    return json.loads(out.stdout)["solve_time_seconds"]


def peak_rss_mb(eot, x, y, ranks):
    """The largest peak resident memory of the ranks of one run: each rank is a small Python
    program that runs eot (which inherits mpirun's environment and joins the run) and prints its
    child's peak (getrusage), so mpirun's own memory is not counted."""
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], "
              "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN)"
              ".ru_maxrss / 1024)")
    solve = command(eot, x, y, 1, 1, 1)
    wrapped = [sys.executable, "-c", script, *solve]
    if ranks > 1:
        wrapped = [*MPIRUN, "-np", str(ranks), *wrapped]
    out = subprocess.run(wrapped, capture_output=True, text=True)
    return max(float(line) for line in out.stdout.split())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eot", nargs="?", default="build/apps/eot")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--m", type=int, default=0)
    parser.add_argument("--d", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0)
    parser.add_argument("--memory", default="")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        def clouds(n, d, m=0):
            m = m or n
            x, y = f"{folder}/x{n}_{d}.npy", f"{folder}/y{m}_{d}.npy"
            np.save(x, rng.random((n, d)))
            np.save(y, rng.random((m, d)))
            return x, y

        if args.memory:
            print(f"Peak resident memory of the largest rank, MB (d = {args.d}, 1 iteration)")
            print("| n = m | 1 rank | 2 ranks |")
            print("|---|---|---|")
            for n in map(int, args.memory.split(",")):
                x, y = clouds(n, args.d)
                print(f"| {n} | {peak_rss_mb(args.eot, x, y, 1):.1f} | "
                      f"{peak_rss_mb(args.eot, x, y, 2):.1f} |", flush=True)
            return
        x, y = clouds(args.n, args.d, args.m)
        configs = [("1 rank x 1 thread", 1, 1), ("2 ranks x 1 thread", 2, 1),
                   ("1 rank x 2 threads", 1, 2)]
        times = {name: [] for name, _, _ in configs}
        with busy(args.busy):
            for _ in range(args.repeats):
                for name, ranks, threads in configs:
                    long = solve_time(args.eot, x, y, ranks, threads, 12)
                    short = solve_time(args.eot, x, y, ranks, threads, 2)
                    times[name].append((long - short) / 10)
        state = f"beside {args.busy} CPU-bound processes" if args.busy else "alone"
        print(f"n = {args.n}, m = {args.m or args.n}, d = {args.d}, {state}; time per "
              f"iteration (ms) over "
              f"{args.repeats} repeats")
        print("| configuration | best | median | speed-up over 1 rank x 1 thread (best, median) |")
        print("|---|---|---|---|")
        base = times[configs[0][0]]
        for name, _, _ in configs:
            best, median = min(times[name]), statistics.median(times[name])
            print(f"| {name} | {1e3 * best:.4g} | {1e3 * median:.4g} | {min(base) / best:.2f}x, "
                  f"{statistics.median(base) / median:.2f}x |")


if __name__ == "__main__":
    main()
