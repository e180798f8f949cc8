#!/usr/bin/env python3
"""The Newton stage against Sinkhorn alone, side by side in one run, on the same problems.

The problems: n points drawn uniformly in the unit square on each side (seeded), the squared
Euclidean cost scaled to max 1, uniform weights, at small epsilon. Each is solved twice by
`eot solve --cost cost.npy --json` as a user would: with the defaults (`--newton auto`:
over-relaxed Sinkhorn, then Newton steps where the measured rate says they pay) and with
`--newton off` (over-relaxed Sinkhorn alone), both to the same tolerance and iteration budget.
The table shows how each ended, its iterations (and of them Newton steps), its relative
marginal error and its solve time (the solve alone, file reading excluded; the best of
--repeat runs), and the largest difference between the two plans where both converged.

Usage: tools/bench_newton.py EOT_BINARY [--sizes 50 200 400 1000 2000]
                             [--epsilons 1e-2 1e-3 1e-4] [--tolerance 1e-9]
                             [--max-iterations 20000] [--repeat 3]
Needs Debian's python3-numpy.
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np


def cost(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    c = ((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=-1)
    return c / c.max()


def solve(binary, folder, epsilon, newton, args):
    best = None
    potentials = os.path.join(folder, f"potentials-{newton}.npy")
    for _ in range(args.repeat):
        out = subprocess.run(
            [binary, "solve", "--cost", os.path.join(folder, "cost.npy"), "--epsilon",
             str(epsilon), "--json", "--newton", newton, "--tolerance", str(args.tolerance),
             "--max-iterations", str(args.max_iterations), "--potentials", potentials],
            capture_output=True, text=True, check=False)
        if out.returncode not in (0, 3):
            raise SystemExit(f"eot failed ({out.returncode}): {out.stderr.strip()}")
        j = json.loads(out.stdout)
        if best is None or j["solve_time_seconds"] < best["solve_time_seconds"]:
            best = j
    best["potentials"] = np.load(potentials)
    return best


def plan(c, potentials, epsilon):
    n, m = c.shape
    f, g = potentials[:n], potentials[n:]
    return np.exp((f[:, None] + g[None, :] - c) / epsilon) / (n * m)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 400, 1000, 2000])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4])
    parser.add_argument("--tolerance", type=float, default=1e-9)
    parser.add_argument("--max-iterations", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"tolerance {args.tolerance:g} (relative L1 marginal error), budget "
          f"{args.max_iterations} iterations, best of {args.repeat} runs")
    print(f"{'n':>5} {'epsilon':>8}  {'solver':<15} {'status':<15} {'iterations':>10} "
          f"{'newton':>6} {'error':>9} {'time (s)':>9}  {'max|P - P_off|':>14}")
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            c = cost(n)
            np.save(os.path.join(folder, "cost.npy"), c)
            for epsilon in args.epsilons:
                runs = {mode: solve(args.binary, folder, epsilon, mode, args)
                        for mode in ("off", "auto")}
                both = all(r["status"] == "converged" for r in runs.values())
                for mode, name in (("off", "Sinkhorn"), ("auto", "Sinkhorn+Newton")):
                    r = runs[mode]
                    diff = ""
                    if mode == "auto" and both:
                        diff = f"{np.abs(plan(c, r['potentials'], epsilon) - plan(c, runs['off']['potentials'], epsilon)).max():14.2e}"
                    print(f"{n:>5} {epsilon:>8g}  {name:<15} {r['status']:<15} "
                          f"{r['iterations']:>10} {r['newton_steps']:>6} "
                          f"{r['marginal_error']:>9.2e} {r['solve_time_seconds']:>9.4f}  {diff:>14}")


if __name__ == "__main__":
    main()
