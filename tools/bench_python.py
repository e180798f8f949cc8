#!/usr/bin/env python3
"""The Python module's cost per call, and a Python loop of small solves against the same loop
over POT.

1. Calling overhead: eot.solve on an n x n cost (n = 10 by default), timed around the call,
   minus the library's own solve time (Result.solve_time_seconds): what the binding adds
   (argument parsing, wrapping the array, releasing the GIL, the Result). Median of --calls
   calls after a warm-up.
2. A loop of --count solves, each on its own seeded n x n problem (points uniform in the unit
   square, squared Euclidean cost, uniform weights, reg 0.05), written the way a POT user writes
   it: `ot.sinkhorn(a, b, M, reg)` against `eot.sinkhorn(a, b, M, reg)` (POT's defaults,
   stopThr 1e-9 and numItermax 1000; eot's stop is stricter, |P 1 - a|_1 + |P^T 1 - b|_1 <=
   1e-9), then `eot.solve(M, epsilon=reg)` (no plan formed), then one `eot.solve_batched` call
   on the stacked costs (no loop: the problems shared among the threads). Best of --repeats.
   --busy N runs N CPU-bound processes beside the whole run.

Usage: PYTHONPATH=build/python tools/bench_python.py [--n 10] [--count 1000] [--calls 20000]
                                                     [--repeats 5] [--busy 0]
Needs Debian's python3-pot and python3-numpy.
"""
import argparse
import os
import statistics
import time
import warnings

import numpy as np
import ot

import eot
from busy import busy


def overhead(n, calls):
    rng = np.random.default_rng(0)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    walls, solves = [], []
    for _ in range(calls):
        start = time.perf_counter()
        result = eot.solve(cost, epsilon=0.05)
        walls.append(time.perf_counter() - start)
        solves.append(result.solve_time_seconds)
    walls, solves = walls[calls // 10:], solves[calls // 10:]  # after the warm-up
    return statistics.median(walls), statistics.median(solves), statistics.median(
        w - s for w, s in zip(walls, solves))


def problems(n, count):
    rng = np.random.default_rng(1)
    out = []
    for _ in range(count):
        x, y = rng.random((n, 2)), rng.random((n, 2))
        out.append(((x[:, None] - y[None]) ** 2).sum(-1))
    return out


def best_loop(body, costs, repeats):
    a = b = np.full(costs[0].shape[-1], 1.0 / costs[0].shape[-1])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for M in costs:
            body(a, b, M)
        best = min(best, time.perf_counter() - start)
    return best


def main():
    # POT warns about the few problems its 1000 iterations do not finish; the timing is the point.
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", type=int, default=0)
    args = parser.parse_args()
    print(f"eot {eot.__version__} ({eot.instruction_set()} kernels), POT {ot.__version__}, "
          f"{os.cpu_count()} CPUs, {args.busy} competing processes, n = {args.n}")
    with busy(args.busy):
        wall, solve, extra = overhead(args.n, args.calls)
        costs = problems(args.n, args.count)
        loops = {
            "ot.sinkhorn": best_loop(lambda a, b, M: ot.sinkhorn(a, b, M, 0.05), costs,
                                     args.repeats),
            "eot.sinkhorn": best_loop(lambda a, b, M: eot.sinkhorn(a, b, M, 0.05), costs,
                                      args.repeats),
            "eot.solve": best_loop(lambda a, b, M: eot.solve(M, epsilon=0.05), costs,
                                   args.repeats),
            "eot.solve_batched": best_loop(lambda a, b, M: eot.solve_batched(M, epsilon=0.05),
                                           [np.stack(costs)], args.repeats),
        }
    print(f"\none eot.solve call, median of {args.calls - args.calls // 10}:")
    print(f"  wall {wall * 1e6:8.1f} us   library solve {solve * 1e6:8.1f} us   "
          f"overhead {extra * 1e6:6.1f} us")
    print(f"\na loop of {args.count} solves, best of {args.repeats}:")
    print(f"  {'loop':<18}{'time (s)':>10}{'per solve (us)':>16}{'vs POT':>9}")
    for name, seconds in loops.items():
        print(f"  {name:<18}{seconds:>10.4f}{seconds / args.count * 1e6:>16.1f}"
              f"{loops['ot.sinkhorn'] / seconds:>8.1f}x")


if __name__ == "__main__":
    main()
