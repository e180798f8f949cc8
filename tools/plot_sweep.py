#!/usr/bin/python3
"""Draws the figure of one `eot sweep` table (CSV), transport or attention.

    tools/plot_sweep.py TABLE.csv OUT.png [--title TITLE]

Transport tables: <P, C> and the primal value against epsilon with the exact cost, the excess
<P, C> - OT_0 on log-log axes next to the epsilon log(1/epsilon) trend, and iterations and
time. Attention tables: entropy, max weight and the distances to hard and uniform attention.
Needs Debian's python3-matplotlib; `eot sweep --plot` runs this script.
"""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_table(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(r[key]) if key != "status" else 0.0 for r in rows]) for key in rows[0]}


def transport_axes(axes, t, label=""):
    """Cost and primal, excess over the exact cost, iterations: three axes."""
    eps = t["epsilon"]
    axes[0].semilogx(eps, t["transport_cost"], "o-", label=f"<P, C>{label}")
    axes[0].semilogx(eps, t["primal"], "s--", label=f"primal{label}")
    if "exact_cost" in t:
        exact = t["exact_cost"][0]
        axes[0].axhline(exact, color="k", lw=1, label="exact OT (epsilon = 0)")
        excess = np.maximum(t["transport_cost"] - exact, 1e-300)
        axes[1].loglog(eps, excess, "o-", label=f"<P, C> - OT_0{label}")
        trend = eps * np.log(1 / eps)
        ok = trend > 0
        if ok.any():
            scale = np.median(excess[ok] / trend[ok])
            axes[1].loglog(eps[ok], scale * trend[ok], "k:", label="epsilon log(1/epsilon) (scaled)")
        axes[1].set_ylabel("excess cost")
    axes[2].loglog(eps, t["iterations"], "o-", label=f"iterations{label}")
    for ax in axes:
        ax.set_xlabel("epsilon")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("cost")
    axes[2].set_ylabel("iterations")


def attention_axes(axes, t):
    eps = t["epsilon"]
    axes[0].semilogx(eps, t["mean_entropy"], "o-", label="mean row entropy")
    axes[0].set_ylabel("entropy (nats)")
    axes[1].semilogx(eps, t["mean_max_weight"], "o-", label="mean max weight")
    axes[1].semilogx(eps, t["distance_to_hard"], "s--", label="TV to hard attention")
    axes[1].semilogx(eps, t["distance_to_uniform"], "^--", label="TV to uniform")
    marked = t["epsilon_over_sqrt_d"] == 1
    for ax in axes:
        for e in eps[marked]:
            ax.axvline(e, color="r", lw=1, ls=":", label="epsilon = sqrt(d)")
        ax.set_xlabel("epsilon")
        ax.grid(True, which="both", alpha=0.3)


def plot_table(path, out, title=""):
    t = read_table(path)
    if "mean_entropy" in t:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        attention_axes(axes, t)
    else:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        transport_axes(axes, t)
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("out")
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    plot_table(args.table, args.out, args.title)
