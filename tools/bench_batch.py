#!/usr/bin/env python3
"""A batch of small problems: one `eot solve` on a 3-D file against a Python loop over POT.

The problems: B pairs of n points drawn uniformly in the unit square (seeded), the squared
Euclidean cost, uniform weights, epsilon (POT's reg) 0.05: what a training loop hands over. eot
runs as a user would: one `eot solve --cost costs.npy --json` (B x n x n), or `--x --y` (B x n x
2 each); its wall time includes starting the process and reading the file. POT runs
`ot.sinkhorn` (method "sinkhorn", its defaults: stopThr 1e-9 on |P^T 1 - b|_2, numItermax 1000)
in a Python loop in this process. eot's stopping rule is stricter: |P 1 - a|_1 + |P^T 1 - b|_1 <=
1e-9. Each timing is the best of --repeats runs. --busy N starts N CPU-bound processes beside
both, for the whole run. The last line compares the transport costs of the two.

Usage: tools/bench_batch.py EOT_BINARY [--count 1000] [--n 64] [--epsilon 0.05] [--repeats 5]
                            [--busy 0]
Needs Debian's python3-pot and python3-numpy.
"""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time

import numpy as np
import ot

from busy import busy


def run_eot(binary, inputs, epsilon, threads, repeats):
    command = [binary, "solve", *inputs, "--epsilon", str(epsilon), "--threads", str(threads)]
    best = None
    for _ in range(repeats):  # the report's last line is the batch's solve time
        start = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if out.returncode not in (0, 3):
            raise SystemExit(f"eot failed ({out.returncode}): {out.stderr.strip()}")
        solve = float(re.search(r"^  time +([0-9.]+) s$", out.stdout, re.M).group(1))
        best = {"wall": min(wall, best["wall"]) if best else wall,
                "solve": min(solve, best["solve"]) if best else solve}
    results = json.loads(subprocess.run(command + ["--json"], capture_output=True, text=True,
                                        check=False).stdout)
    best.update({"converged": sum(r["status"] == "converged" for r in results),
                 "iterations": np.median([r["iterations"] for r in results]),
                 "costs": np.array([r["transport_cost"] for r in results])})
    return best


def run_pot(costs, epsilon, repeats):
    n, m = costs.shape[1:]
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        plans = [ot.sinkhorn(a, b, c, epsilon, log=True) for c in costs]
        wall = time.perf_counter() - start
        if best is None or wall < best["wall"]:
            best = {"wall": wall,
                    "converged": sum(log["err"][-1] < 1e-9 for _, log in plans),
                    "iterations": np.median([log["niter"] for _, log in plans]),
                    "costs": np.array([np.sum(p * c) for (p, _), c in zip(plans, costs)])}
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eot")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--epsilon", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", type=int, default=0, help="CPU-bound processes beside")
    args = parser.parse_args()
    with busy(args.busy):
        compare(args)


def compare(args):
    rng = np.random.default_rng(0)
    x = rng.random((args.count, args.n, 2))
    y = rng.random((args.count, args.n, 2))
    costs = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
    print(f"{args.count} problems of {args.n} x {args.n}, epsilon {args.epsilon:g}, best of "
          f"{args.repeats}; POT {ot.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"{args.busy} CPU-bound processes beside")
    print(f"{'solver':<34} {'wall s':>8} {'solve s':>8} {'converged':>10} {'median iters':>13} "
          f"{'POT / wall':>10} {'POT / solve':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: os.path.join(tmp, name + ".npy") for name in ("costs", "x", "y")}
        np.save(files["costs"], costs)
        np.save(files["x"], x)
        np.save(files["y"], y)
        pot = run_pot(costs, args.epsilon, args.repeats)
        rows = []
        for label, inputs in (("costs", ["--cost", files["costs"]]),
                              ("points", ["--x", files["x"], "--y", files["y"]])):
            for threads in (1, 0):
                name = f"eot solve, {label}, {'all threads' if threads == 0 else '1 thread'}"
                rows.append((name, run_eot(args.eot, inputs, args.epsilon, threads,
                                           args.repeats)))
        for name, r in rows:
            print(f"{name:<34} {r['wall']:>8.3f} {r['solve']:>8.3f} "
                  f"{r['converged']:>5}/{args.count:<4} {r['iterations']:>13g} "
                  f"{pot['wall'] / r['wall']:>10.1f} {pot['wall'] / r['solve']:>11.1f}")
        print(f"{'POT ot.sinkhorn, a Python loop':<34} {pot['wall']:>8.3f} {'':>8} "
              f"{pot['converged']:>5}/{args.count:<4} {pot['iterations']:>13g} {1:>10.1f} "
              f"{1:>11.1f}")
        difference = np.max(np.abs(rows[0][1]["costs"] - pot["costs"]) / pot["costs"])
        print(f"largest relative difference of <P, C>, eot against POT: {difference:.1e}")


if __name__ == "__main__":
    main()
