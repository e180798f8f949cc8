#!/usr/bin/env python3
"""eot against POT, side by side in one run, on the same problems.

The problems: n points drawn uniformly in the unit square on each side (seeded), the squared
Euclidean cost scaled to max 1, uniform weights; reg (= epsilon) 0.01 and 0.001. eot runs as
a user would (`eot solve --cost cost.npy --json`, its own solve time, file reading excluded);
POT's solvers run in this process. Each stops at its own default tolerance: POT's is
|P^T 1 - b|_2 < 1e-9 checked every 10 iterations, eot's |P 1 - a|_1 + |P^T 1 - b|_1 <= 1e-9
(stricter, at --eot-tolerance 1e-9; the default 1e-8 is an L1 error on par with POT's L2 one).
A POT run counts as converged if its last error is below its threshold. --busy N starts N
CPU-bound processes that run beside both, for the whole run.

Usage: tools/bench_pot.py EOT_BINARY [--sizes 2000 4000] [--regs 0.01 0.001]
                          [--methods sinkhorn sinkhorn_log sinkhorn_stabilized] [--threads 0]
                          [--eot-tolerance 1e-8] [--pot-max-iterations 100000] [--busy 0]
Needs Debian's python3-pot and python3-numpy; install libopenblas0-pthread for the BLAS most
numpy users have (POT's `sinkhorn` is matrix-vector products).
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import ot

from busy import busy


def problem(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    cost = ot.dist(x, y)  # squared Euclidean
    return cost / cost.max()


def run_eot(binary, cost_file, reg, threads, tolerance):
    out = subprocess.run([binary, "solve", "--cost", cost_file, "--epsilon", str(reg), "--json",
                          "--threads", str(threads), "--max-iterations", "100000",
                          "--tolerance", str(tolerance)],
                         capture_output=True, text=True, check=False)
    if out.returncode not in (0, 3):
        raise SystemExit(f"eot failed ({out.returncode}): {out.stderr.strip()}")
    j = json.loads(out.stdout)
    return {"seconds": j["solve_time_seconds"], "iterations": j["iterations"],
            "converged": j["status"] == "converged", "cost": j["transport_cost"],
            "name": f"eot ({j.get('domain', 'log')} domain)"}


def run_pot(method, cost, reg, max_iterations):
    n = cost.shape[0]
    a = np.full(n, 1.0 / n)
    start = time.perf_counter()
    plan, log = ot.sinkhorn(a, a, cost, reg, method=method, numItermax=max_iterations,
                            stopThr=1e-9, log=True)
    seconds = time.perf_counter() - start
    errors = log.get("err", [])
    iterations = log.get("niter", 10 * len(errors))
    finite = np.isfinite(plan).all()
    converged = bool(finite and errors and errors[-1] < 1e-9)
    return {"seconds": seconds, "iterations": iterations, "converged": converged,
            "cost": float(np.sum(plan * cost)) if finite else float("nan")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eot")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000])
    parser.add_argument("--regs", type=float, nargs="+", default=[0.01, 0.001])
    parser.add_argument("--methods", nargs="+",
                        default=["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"])
    parser.add_argument("--threads", type=int, default=0, help="eot's (0: every CPU)")
    parser.add_argument("--eot-tolerance", type=float, default=1e-8)
    parser.add_argument("--busy", type=int, default=0,
                        help="CPU-bound processes to run beside both")
    parser.add_argument("--pot-max-iterations", type=int, default=100000,
                        help="POT's numItermax (sinkhorn_stabilized can stall until it)")
    args = parser.parse_args()

    print(f"POT {ot.__version__}, numpy {np.__version__}, eot threads {args.threads}, "
          f"eot tolerance {args.eot_tolerance:g}, OMP/BLAS threads "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')}, {args.busy} CPU-bound processes beside")
    with busy(args.busy):
        compare(args)


def compare(args):
    print(f"{'n':>6} {'reg':>7} {'solver':<22} {'seconds':>9} {'iters':>7} {'converged':>9} "
          f"{'<P, C>':>14} {'time / eot':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            cost = problem(n)
            cost_file = os.path.join(tmp, f"cost{n}.npy")
            np.save(cost_file, cost)
            for reg in args.regs:
                mine = run_eot(args.eot, cost_file, reg, args.threads, args.eot_tolerance)
                pot = []
                for name in [mine["name"]] + [f"POT {m}" for m in args.methods]:
                    r = (mine if name == mine["name"]
                         else run_pot(name[4:], cost, reg, args.pot_max_iterations))
                    print(f"{n:>6} {reg:>7g} {name:<22} {r['seconds']:>9.3f} {r['iterations']:>7} "
                          f"{str(r['converged']):>9} {r['cost']:>14.9f} "
                          f"{r['seconds'] / mine['seconds']:>10.1f}", flush=True)
                    pot += [r] if r is not mine else []
                fastest = min((r["seconds"] for r in pot if r["converged"]), default=None)
                verdict = (f"eot is {fastest / mine['seconds']:.1f}x faster than POT's fastest "
                           "converging method" if fastest else "no POT method converged")
                print(f"{'':>6} {'':>7} {verdict}")


if __name__ == "__main__":
    main()
