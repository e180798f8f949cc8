#!/usr/bin/python3
"""Time per Sinkhorn iteration against n, on log-log axes, next to its floor.

    tools/plot_scaling.py EOT_BINARY OUT.png [--threads 2] [--table OUT.txt] [--quick]

Runs `EOT_BINARY bench --scaling` (which measures this machine's exp throughput and read
bandwidth, then the time per iteration of dense log-domain, dense kernel-domain and matrix-free
point-cloud solves for a range of n), keeps its table (--table) and draws one line per problem
with its floor dashed: n m exps per pass in the log domain, reading the kernel in the kernel
domain (at the read bandwidth measured on an array of the kernel's size, so from the caches
while it fits there). The caption names the machine, the build and the date. Needs Debian's
python3-matplotlib.
"""
import argparse
import datetime
import os
import subprocess
import textwrap
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def run_bench(binary, threads, quick):
    command = [binary, "bench", "--scaling", "--threads", str(threads)] + (["--quick"] if quick else [])
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def caption(binary, threads):
    """The machine (CPU model, CPUs, load), the build (`eot --version`) and the date."""
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    load = os.getloadavg()[0]
    text = (f"{model}, {os.cpu_count()} CPUs, 1-minute load average {load:.1f} at the start; "
            f"{threads} threads; {version}; {datetime.date.today()}. Each point: the time of 2k "
            "iterations minus that of k, best of 2. Floors, measured beside each point (best of 20): "
            "one exp per cost and pass (log domain); reading K twice at the bandwidth of an array "
            "of K's size, in huge pages as K is (kernel domain).")
    return "\n".join(textwrap.wrap(text, 150))


def parse(table):
    """{problem: [(n, ms, floor_ms)]} from the rows of the scaling table."""
    rows = defaultdict(list)
    for line in table.splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[0] in ("dense-log", "dense-kernel", "cloud-log"):
            rows[fields[0]].append((int(fields[1]), float(fields[2]), float(fields[3])))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("out")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table", help="also write the bench output here")
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke test)")
    args = parser.parse_args()

    note = caption(args.binary, args.threads)
    table = run_bench(args.binary, args.threads, args.quick)
    print(table, end="")
    if args.table:
        with open(args.table, "w") as f:
            f.write(table)
    rows = parse(table)
    if not rows:
        raise SystemExit("no scaling rows in the bench output")

    labels = {"dense-log": "dense, log domain", "dense-kernel": "dense, kernel domain",
              "cloud-log": "point cloud 2-D, log domain (matrix-free)"}
    fig, ax = plt.subplots(figsize=(8, 6))
    for key, points in rows.items():
        n = [p[0] for p in points]
        line, = ax.loglog(n, [p[1] for p in points], "o-", label=labels[key])
        ax.loglog(n, [p[2] for p in points], "--", color=line.get_color(), lw=1,
                  label=f"floor ({'read' if key == 'dense-kernel' else 'exp'})")
    ax.set_xlabel("n = m")
    ax.set_ylabel("ms per iteration (2 passes)")
    ax.set_title(f"Time per Sinkhorn iteration, double, {args.threads} threads")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, note, fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
