#!/usr/bin/python3
"""Regenerates every figure in docs/figures/ with the eot binary, from data/ and seeded data.

    tools/make_figures.py [--eot build/apps/eot]        (from the repository root)

Needs Debian's python3-numpy and python3-matplotlib. The tables it draws are written next to
the figures as CSV, so every figure can be checked against numbers.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_sweep import attention_axes, read_table, transport_axes  # noqa: E402

FIGURES = "docs/figures"
REAL = "data/real"


def run(eot, *args):
    subprocess.run([eot, *args, "--quiet"] if args[0] == "sweep" else [eot, *args], check=True,
                   stdout=subprocess.DEVNULL)


def transport_figure(eot, name, title, problem, grid):
    tables = {}
    for label, extra in (("", []), (", epsilon scaling", ["--epsilon-scaling"])):
        path = os.path.join(FIGURES, f"{name}{'_scaling' if extra else ''}.csv")
        run(eot, "sweep", *problem, "--epsilon-range", grid, "--max-iterations", "200000",
            "--table", path, *extra)
        tables[label] = read_table(path)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4))
    transport_axes(axes[:3], tables[""])
    scaled = tables[", epsilon scaling"]
    axes[2].loglog(scaled["epsilon"], scaled["iterations"], "s--", label="iterations, epsilon scaling")
    for label, t in tables.items():
        axes[3].loglog(t["epsilon"], t["solve_time_seconds"], "o-", label=f"time{label or ', warm start'}")
    axes[3].set_xlabel("epsilon")
    axes[3].set_ylabel("seconds")
    axes[3].grid(True, which="both", alpha=0.3)
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.path.join(FIGURES, f"{name}.png"), dpi=100)
    plt.close(fig)


def plans_figure(eot, tmp):
    problem = ["--x", f"{REAL}/grid.csv", "--y", f"{REAL}/grid.csv", "--a", f"{REAL}/digit3.csv",
               "--b", f"{REAL}/digit8.csv"]
    fig, axes = plt.subplots(1, 5, figsize=(18, 3.8))
    for ax, name in zip(axes[:2], ("digit3", "digit8")):
        ax.imshow(np.loadtxt(f"{REAL}/{name}.csv", delimiter=",").reshape(8, 8), cmap="gray_r")
        ax.set_title(f"a = {name}" if name == "digit3" else "b = digit8")
        ax.axis("off")
    for ax, eps in zip(axes[2:], ("0.1", "0.01", "0.001")):
        plan = os.path.join(tmp, f"plan_{eps}.npy")
        run(eot, "solve", *problem, "--epsilon", eps, "--max-iterations", "200000", "--quiet", "--plan", plan)
        ax.imshow(np.load(plan) ** 0.5, cmap="viridis")
        ax.set_title(f"plan (sqrt), epsilon = {eps}")
        ax.set_xlabel("pixel of the 8")
        ax.set_ylabel("pixel of the 3")
    fig.tight_layout()
    fig.savefig(os.path.join(FIGURES, "plans_digits.png"), dpi=100)
    plt.close(fig)


def attention_figures(eot, tmp):
    rng = np.random.RandomState(1)
    n, m, d = 64, 64, 64
    q, k, v = rng.normal(size=(n, d)), rng.normal(size=(m, d)), rng.normal(size=(m, 8))
    for name, array in (("q", q), ("k", k), ("v", v)):
        np.savetxt(os.path.join(tmp, f"{name}.csv"), array, delimiter=",")
    qkv = ["--q", f"{tmp}/q.csv", "--k", f"{tmp}/k.csv", "--v", f"{tmp}/v.csv"]
    table = os.path.join(FIGURES, "attention_sweep.csv")
    run(eot, "sweep", *qkv, "--epsilon-range", "0.01:1000:21", "--table", table)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    attention_axes(axes, read_table(table))
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=8)
    fig.suptitle("softmax(q k^T / epsilon): n = m = d = 64, Gaussian q, k")
    fig.tight_layout()
    fig.savefig(os.path.join(FIGURES, "attention_sweep.png"), dpi=100)
    plt.close(fig)

    # SDPA vs Sinkhorn attention: what the column constraint changes is the column sums.
    def two_sided(*extra):
        weights, out = os.path.join(tmp, "w.npy"), os.path.join(tmp, "o.csv")
        report = subprocess.run([eot, "attention", *qkv, "--out", out, "--weights", weights,
                                 "--two-sided", "--json", *extra],
                                check=True, capture_output=True, text=True).stdout
        return np.load(weights), json.loads(report)["column_error"]

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    sdpa, _ = two_sided("--iterations", "1")
    order = np.argsort(sdpa.sum(0))
    header = "key,sdpa,normalizations_2,normalizations_9,converged"
    sums = []
    for label, extra in (("SDPA (1 normalization)", ["--iterations", "1"]),
                         ("2 normalizations", ["--iterations", "2"]),
                         ("9 normalizations", ["--iterations", "9"]),
                         ("Sinkhorn, converged", [])):
        w, _ = two_sided(*extra)
        sums.append(w.sum(0)[order])
        left.plot(np.arange(m), sums[-1], "o-" if not extra else ".-", ms=3, label=label)
    left.axhline(n / m, color="k", lw=1, ls=":", label="n / m")
    left.set_xlabel("key (sorted by its SDPA column sum)")
    left.set_ylabel("column sum of the weights")
    left.set_title("How much attention each key receives")
    left.legend(fontsize=8)
    left.grid(True, alpha=0.3)
    # An odd count ends with a row pass: rows sum to 1 exactly, and the columns carry what is
    # left (an even count ends with the columns exact instead).
    counts = list(range(1, 22, 2))
    errors = [two_sided("--iterations", str(c))[1] for c in counts]
    right.semilogy(counts, errors, "o-")
    right.set_xlabel("normalizations (1 = SDPA; then a column and a row pass each time)")
    right.set_ylabel("column error |P^T 1 - n / m|_1, rows exact")
    right.set_title("What is left of the column constraint")
    right.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"SDPA vs Sinkhorn attention: Gaussian q, k, n = m = d = {n}, epsilon = sqrt(d)")
    fig.tight_layout()
    fig.savefig(os.path.join(FIGURES, "attention_two_sided.png"), dpi=100)
    plt.close(fig)
    with open(os.path.join(FIGURES, "attention_two_sided.csv"), "w") as f:
        f.write(header + "\n")
        for j in range(m):
            f.write(f"{order[j]}," + ",".join(f"{s_[j]:.6f}" for s_ in sums) + "\n")
        f.write("\nnormalizations,column_error\n")
        for c, e in zip(counts, errors):
            f.write(f"{c},{e:.6e}\n")

    # Why sqrt(d): entropy against d with epsilon = 1 and epsilon = sqrt(d).
    dims, at_one, at_sqrt = [4, 16, 64, 256, 1024], [], []
    for dim in dims:
        np.savetxt(os.path.join(tmp, "qd.csv"), rng.normal(size=(n, dim)), delimiter=",")
        np.savetxt(os.path.join(tmp, "kd.csv"), rng.normal(size=(m, dim)), delimiter=",")
        path = os.path.join(tmp, "d.csv")
        run(eot, "sweep", "--q", f"{tmp}/qd.csv", "--k", f"{tmp}/kd.csv", "--epsilons", "1", "--table", path)
        t = read_table(path)
        at_one.append(t["mean_entropy"][t["epsilon"] == 1][0])
        at_sqrt.append(t["mean_entropy"][t["epsilon_over_sqrt_d"] == 1][0])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogx(dims, at_sqrt, "o-", label="epsilon = sqrt(d)")
    ax.semilogx(dims, at_one, "s--", label="epsilon = 1")
    ax.axhline(np.log(m), color="k", lw=1, ls=":", label="log m (uniform)")
    ax.set_xlabel("d")
    ax.set_ylabel("mean row entropy (nats)")
    ax.set_title("unit-variance q, k; m = 64 keys")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(FIGURES, "attention_sqrt_d.png"), dpi=100)
    plt.close(fig)


def flow_figure(eot, tmp):
    """A Sinkhorn-divergence gradient flow: a Gaussian blob carried onto a ring and a dot by
    gradient steps x <- x - step * n * grad_x S(x, y) (n * grad_x: the gradient per unit of
    mass, each point weighing 1 / n)."""
    rng = np.random.RandomState(3)
    n, steps, step, epsilon = 200, 60, 0.05, "0.01"
    x = rng.normal(size=(n, 2)) * 0.15 + [-0.6, 0.0]
    angle = rng.uniform(0, 2 * np.pi, size=n)
    ring = np.c_[np.cos(angle), np.sin(angle)] * 0.5 + [0.4, 0.0]
    dot = rng.normal(size=(n, 2)) * 0.04 + [0.4, 0.0]
    y = np.where(np.arange(n)[:, None] < 3 * n // 4, ring, dot)
    np.savetxt(os.path.join(tmp, "y.csv"), y, delimiter=",")
    snapshots, history = {}, []
    for k in range(steps + 1):
        np.savetxt(os.path.join(tmp, "x.csv"), x, delimiter=",")
        grad = os.path.join(tmp, "grad.npy")
        out = subprocess.run([eot, "divergence", "--x", f"{tmp}/x.csv", "--y", f"{tmp}/y.csv",
                              "--epsilon", epsilon, "--json", "--grad-x", grad],
                             check=True, capture_output=True, text=True).stdout
        history.append((k, float(out.split('"divergence":')[1].split(",")[0])))
        if k in (0, 5, 15, steps):
            snapshots[k] = x.copy()
        x = x - step * n * np.load(grad)
    np.savetxt(os.path.join(FIGURES, "divergence_flow.csv"), history, delimiter=",",
               header="step,divergence", comments="", fmt=["%d", "%.10g"])
    fig, axes = plt.subplots(1, 5, figsize=(20, 4))
    for ax, (k, points) in zip(axes, snapshots.items()):
        ax.scatter(y[:, 0], y[:, 1], s=6, c="tab:orange", label="target y")
        ax.scatter(points[:, 0], points[:, 1], s=6, c="tab:blue", label="x")
        ax.set_title(f"step {k}: S = {history[k][1]:.2e}")
        ax.set_aspect("equal")
        ax.set_xlim(-1.2, 1.1)
        ax.set_ylim(-0.8, 0.8)
    axes[0].legend(fontsize=8, loc="lower left")
    steps_done, values = zip(*history)
    axes[4].semilogy(steps_done, values, "o-", ms=3)
    axes[4].set_xlabel("gradient step")
    axes[4].set_ylabel("Sinkhorn divergence S(x, y)")
    axes[4].grid(True, which="both", alpha=0.3)
    fig.suptitle(f"eot divergence --grad-x: a blob flows onto a ring and a dot "
                 f"(n = m = {n}, epsilon = {epsilon}, x <- x - {step} n grad_x S)")
    fig.tight_layout()
    fig.savefig(os.path.join(FIGURES, "divergence_flow.png"), dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eot", default="build/apps/eot")
    eot = parser.parse_args().eot
    os.makedirs(FIGURES, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        transport_figure(eot, "transport_digits", "handwritten digits: a 3 moved onto an 8 (8 x 8 pixel grid)",
                         ["--x", f"{REAL}/grid.csv", "--y", f"{REAL}/grid.csv", "--a", f"{REAL}/digit3.csv",
                          "--b", f"{REAL}/digit8.csv"], "0.001:1:13")
        transport_figure(eot, "transport_colours", "colours of two photographs (400 pixels each, RGB)",
                         ["--x", f"{REAL}/china_rgb.csv", "--y", f"{REAL}/flower_rgb.csv"], "0.003:1:6")
        plans_figure(eot, tmp)
        attention_figures(eot, tmp)
        flow_figure(eot, tmp)
    print("figures written to", FIGURES)


if __name__ == "__main__":
    main()
