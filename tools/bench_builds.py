#!/usr/bin/env python3
"""Two builds of eot side by side: time per Sinkhorn iteration, best of the repeats, and ratio.

Usage: tools/bench_builds.py EOT_A EOT_B [--n 2000] [--threads 1] [--repeats 3]

Runs `eot bench --quick --n N --threads T` with each binary in turn, REPEATS times, keeps each
row's best time (ms per iteration, both problem rows of each kind), and prints A / B. Meant
for the README build against a -march=native one:
    tools/bench_builds.py build/apps/eot build-native/apps/eot
"""
import argparse
import subprocess


def rows(binary, n, threads):
    out = subprocess.run([binary, "bench", "--quick", "--n", str(n), "--threads", str(threads)],
                         capture_output=True, text=True, check=True).stdout
    times = {}
    for line in out.splitlines():
        fields = line.split()
        if line.startswith("  ") and len(fields) >= 7 and fields[-4] == str(threads):
            name = " ".join(fields[:-4])
            times[name] = min(times.get(name, 1e300), float(fields[-3]))
    return out.splitlines()[0], times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    best = {args.a: {}, args.b: {}}
    heads = {}
    for _ in range(args.repeats):
        for binary in (args.a, args.b):
            heads[binary], times = rows(binary, args.n, args.threads)
            for name, t in times.items():
                best[binary][name] = min(best[binary].get(name, 1e300), t)
    print(f"A: {args.a}: {heads[args.a]}\nB: {args.b}: {heads[args.b]}")
    print(f"ms per iteration, n = m = {args.n}, {args.threads} thread(s), best of "
          f"{args.repeats} runs x 2 rows")
    print(f"  {'problem':34} {'A':>9} {'B':>9} {'A / B':>7}")
    for name, t in best[args.a].items():
        print(f"  {name:34} {t:9.2f} {best[args.b][name]:9.2f} {t / best[args.b][name]:7.2f}")


if __name__ == "__main__":
    main()
