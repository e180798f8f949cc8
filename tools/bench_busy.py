#!/usr/bin/env python3
"""eot on a busy machine: solve times alone and beside competing processes, in one table.

Usage: tools/bench_busy.py [EOT] [--n 1000] [--iterations 300] [--repeats 5]

Runs `eot solve --json` on a 2-D point cloud (log domain) and on the same problem as a dense
cost (kernel domain), a fixed number of iterations, and reads each run's solve_time_seconds
(reading the files is not timed). Scenarios: alone; two solves at once; beside two CPU-bound
processes; beside an OpenMP program whose two threads meet at barriers (built here with
g++ -fopenmp, as any OpenMP or BLAS program that spins). Each with the default thread setting
and with --threads 1. Prints the median of the repeats (and the best) in seconds.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile

OPENMP_SPINNER = r"""
#include <omp.h>
#include <cstdio>
int main() {
  double total = 0;
  for (long round = 0;; ++round) {
#pragma omp parallel for reduction(+ : total) num_threads(2)
    for (int i = 0; i < 20000; ++i) total += 1e-9 * (i % 7);
    if (total < 0) std::printf("%f\n", total);
  }
}
"""


def write_points(path, n, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            f.write(f"{rng.random():.17g},{rng.random():.17g}\n")


def write_cost(path, x_path, y_path):
    read = lambda p: [tuple(map(float, line.split(","))) for line in open(p)]
    x, y = read(x_path), read(y_path)
    with open(path, "w") as f:
        for xi in x:
            f.write(",".join(f"{(xi[0] - yj[0]) ** 2 + (xi[1] - yj[1]) ** 2:.17g}" for yj in y))
            f.write("\n")


def start_solves(eot, problem, iterations, threads, count):
    command = [eot, "solve", *problem, "--epsilon", "0.01", "--max-iterations", str(iterations),
               "--tolerance", "1e-300", "--json", "--threads", str(threads)]
    return [subprocess.Popen(command, stdout=subprocess.PIPE) for _ in range(count)]


def seconds(processes):
    out = []
    for p in processes:
        stdout, _ = p.communicate()
        out.append(json.loads(stdout)["solve_time_seconds"])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("eot", nargs="?", default="build/apps/eot")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="eot-busy-")
    x, y, c = (os.path.join(work, name) for name in ("x.csv", "y.csv", "c.csv"))
    write_points(x, args.n, 1)
    write_points(y, args.n, 2)
    write_cost(c, x, y)
    spinner = os.path.join(work, "openmp_spinner")
    source = spinner + ".cpp"
    open(source, "w").write(OPENMP_SPINNER)
    subprocess.run(["g++", "-O2", "-fopenmp", source, "-o", spinner], check=True)

    competitors = {
        "alone": lambda: [],
        "beside 2 CPU-bound processes": lambda: [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)],
        "beside a 2-thread OpenMP program": lambda: [subprocess.Popen([spinner])],
    }
    problems = {"point cloud, log": ["--x", x, "--y", y, "--domain", "log"],
                "dense, kernel": ["--cost", c, "--domain", "kernel"]}
    print(f"eot on a busy machine: {args.n} x {args.n}, epsilon 0.01, {args.iterations} "
          f"iterations; solve_time_seconds, median (best) of {args.repeats}; {os.cpu_count()} CPUs")
    print(f"  {'problem':18} {'scenario':34} {'threads':>8} {'seconds':>16} {'vs alone':>9}")
    for name, problem in problems.items():
        alone = {}
        for scenario in ["alone", "two solves at once", "beside 2 CPU-bound processes",
                         "beside a 2-thread OpenMP program"]:
            for threads in (0, 1):
                times = []
                for _ in range(args.repeats):
                    others = competitors.get(scenario, lambda: [])()
                    count = 2 if scenario == "two solves at once" else 1
                    times += seconds(start_solves(args.eot, problem, args.iterations, threads, count))
                    for p in others:
                        p.kill()
                        p.wait()
                median = statistics.median(times)
                if scenario == "alone":
                    alone[threads] = median
                label = "default" if threads == 0 else "1"
                print(f"  {name:18} {scenario:34} {label:>8} {median:8.3f} ({min(times):.3f})"
                      f" {median / alone[threads]:8.2f}x")


if __name__ == "__main__":
    main()
