#!/usr/bin/python3
"""Generate reference entropic-OT solutions with POT for the eot C++ tests.

Run from the repository root with Debian's Python (the one that has POT):

    /usr/bin/python3 data/pot/make_reference.py

It regenerates every file under data/pot/<case>/ and is fully deterministic
(each case uses numpy.random.RandomState(seed) with a fixed seed).

Problem convention of eot (must match exactly)
----------------------------------------------
Cost C (n x m), weights a (n), b (m), epsilon > 0, marginal penalties
rho_a, rho_b (inf = hard marginal constraint):

    min_{P >= 0}  <P, C> + eps * KL(P | a (x) b)
                         + rho_a * KL(P 1 | a) + rho_b * KL(P^T 1 | b)

with the generalized KL(p | q) = sum p log(p / q) - p + q.  The optimal plan
has the Gibbs form

    P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps)

and, for finite rho, the first-order conditions
    r = P 1   = a * exp(-f / rho_a),
    c = P^T 1 = b * exp(-g / rho_b).

Mapping to POT 0.8.2
--------------------
* Balanced (rho_a = rho_b = inf): ot.sinkhorn(a, b, C, reg=eps,
  method='sinkhorn_log').  POT's entropy sum P log P differs from
  eps * KL(P | a (x) b) by  -eps * sum_ij P_ij log(a_i b_j) + (terms linear in
  sum P), which is constant on the transport polytope, so the optimal plans
  coincide.

* Unbalanced (rho_a = rho_b = rho < inf):
  ot.unbalanced.sinkhorn_unbalanced(a, b, M, reg, reg_m).  Its docstring
  says the entropy is Omega(P) = sum P log P, but the algorithm actually
  implemented (generalized Sinkhorn, u = (a / K v)^(rho/(rho+eps)),
  P = diag(u) K diag(v), K = exp(-M / reg)) has the fixed point of
      <P, M> + reg * sum P (log P - 1) + reg_m * KL(P1 | a) + reg_m * KL(P^T1 | b)
  with the generalized KL (the "-1" matters when the mass is free: without it
  the plan would be scaled differently).  Expanding our entropy term,
      eps * KL(P | a (x) b) = eps * sum P (log P - 1)
                              - eps * sum_ij P_ij (log a_i + log b_j) + const,
  so our objective equals POT's objective evaluated with the shifted cost
      M'_ij = C_ij - eps * (log a_i + log b_j)
  plus a constant.  We therefore call POT with M', reg = eps, reg_m = rho.
  The script verifies this independently: it recovers f = -rho log(r/a),
  g = -rho log(c/b) from POT's plan and checks that
  a_i b_j exp((f_i + g_j - C_ij)/eps) reproduces POT's plan entrywise, and
  it also cross-checks against an independent log-domain Sinkhorn written
  directly in our convention (see `log_sinkhorn` below).

* Forbidden pairs (C_ij = +inf): POT cannot take inf in M, so the reference is
  our own numpy log-domain Sinkhorn (scipy.special.logsumexp) run to ~1e-15
  marginal error, cross-checked against POT with inf replaced by 1e3
  (exp(-1e3 / 0.1) underflows to exactly 0, so the plans must agree).

Output files per case (read by the C++ CSV reader): cost.csv, a.csv, b.csv,
plan.csv, params.csv.  Numbers are written with repr(float) (shortest
round-trip representation), +inf as `inf`.  Lines starting with '#' are
comments.
"""

import math
import os
import sys

import numpy as np
from scipy.special import logsumexp

import ot

HERE = os.path.dirname(os.path.abspath(__file__))
POT_VERSION = tuple(int(p) for p in ot.__version__.split(".")[:3])
HEADER = "# produced by data/pot/make_reference.py with POT %s" % ot.__version__
INF = float("inf")


# ---------------------------------------------------------------------------
# CSV output
# ---------------------------------------------------------------------------
def fmt(x):
    return repr(float(x))


def write_matrix(path, M):
    with open(path, "w") as fh:
        fh.write(HEADER + "\n")
        for row in np.asarray(M):
            fh.write(",".join(fmt(x) for x in row) + "\n")


def write_vector(path, v):
    with open(path, "w") as fh:
        fh.write(HEADER + "\n")
        for x in np.asarray(v):
            fh.write(fmt(x) + "\n")


def write_case(name, C, a, b, P, eps, rho_a, rho_b):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    write_matrix(os.path.join(d, "cost.csv"), C)
    write_vector(os.path.join(d, "a.csv"), a)
    write_vector(os.path.join(d, "b.csv"), b)
    write_matrix(os.path.join(d, "plan.csv"), P)
    finite = np.isfinite(C)
    tcost = float(np.sum(P[finite] * C[finite]))
    with open(os.path.join(d, "params.csv"), "w") as fh:
        fh.write(HEADER + "\n")
        fh.write("# epsilon,rho_a,rho_b,transport_cost,"
                 "pot_version_major,pot_version_minor,pot_version_patch\n")
        fh.write(",".join([fmt(eps), fmt(rho_a), fmt(rho_b), fmt(tcost)]
                          + [str(v) for v in POT_VERSION]) + "\n")
    print("  wrote %s  (transport_cost = %r)" % (os.path.relpath(d), tcost))


# ---------------------------------------------------------------------------
# Independent solver in *our* convention (log domain)
# ---------------------------------------------------------------------------
def log_sinkhorn(a, b, C, eps, rho_a=INF, rho_b=INF, tol=1e-15,
                 max_iter=2000000):
    """Log-domain Sinkhorn for
         <P,C> + eps KL(P|a(x)b) + rho_a KL(P1|a) + rho_b KL(P^T1|b),
    P_ij = a_i b_j exp((f_i + g_j - C_ij)/eps).  C may contain +inf.

    Updates (lam = rho/(rho+eps), lam = 1 for rho = inf):
        f_i = -lam * eps * log sum_j b_j exp((g_j - C_ij)/eps)
        g_j = -lam * eps * log sum_i a_i exp((f_i - C_ij)/eps)
    Stops when the sup-norm change of (f, g) over one sweep is <= tol * eps
    (i.e. relative change of the plan <= tol) or when, in the balanced case,
    the column-marginal error is <= tol.  Returns P, f, g, iterations.
    """
    la = 1.0 if math.isinf(rho_a) else rho_a / (rho_a + eps)
    lb = 1.0 if math.isinf(rho_b) else rho_b / (rho_b + eps)
    loga, logb = np.log(a), np.log(b)
    mC = -C / eps                      # -inf where forbidden
    f = np.zeros_like(a)
    g = np.zeros_like(b)
    best = INF
    stall = 0
    for it in range(1, max_iter + 1):
        f_new = -la * eps * logsumexp(mC + (logb + g / eps)[None, :], axis=1)
        g_new = -lb * eps * logsumexp(mC + (loga + f_new / eps)[:, None], axis=0)
        delta = max(np.max(np.abs(f_new - f)), np.max(np.abs(g_new - g))) / eps
        f, g = f_new, g_new
        if delta <= tol:
            break
        # floating-point floor: stop if delta has not improved for a while
        if delta < best:
            best, stall = delta, 0
        else:
            stall += 1
            if stall > 200 and delta < 1e-13:
                break
    else:
        raise RuntimeError("log_sinkhorn did not converge (delta=%g)" % delta)
    P = np.exp(loga[:, None] + logb[None, :] + (f[:, None] + g[None, :] + (-C)) / eps)
    return P, f, g, it


def objective(P, C, a, b, eps, rho_a, rho_b):
    """Our primal objective (finite entries of C only; P must vanish elsewhere)."""
    def kl(p, q):
        p = np.asarray(p, float)
        q = np.asarray(q, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(p > 0, p * np.log(p / q), 0.0)
        return float(np.sum(t - p + q))
    fin = np.isfinite(C)
    val = float(np.sum(P[fin] * C[fin])) + eps * kl(P, np.outer(a, b))
    if not math.isinf(rho_a):
        val += rho_a * kl(P.sum(1), a)
    if not math.isinf(rho_b):
        val += rho_b * kl(P.sum(0), b)
    return val


def check(label, value, tol):
    status = "ok" if value <= tol else "FAIL"
    print("    %-52s %.3e  (tol %.0e) %s" % (label, value, tol, status))
    if value > tol:
        raise SystemExit("verification failed: %s = %g > %g" % (label, value, tol))


def relmax(X, Y):
    return float(np.max(np.abs(X - Y)) / np.max(np.abs(Y)))


# ---------------------------------------------------------------------------
# Solvers / verification
# ---------------------------------------------------------------------------
def pot_balanced(a, b, M, eps):
    P, log = ot.sinkhorn(a, b, M, eps, method="sinkhorn_log", numItermax=1000000,
                         stopThr=1e-15, log=True, warn=False)
    print("    POT sinkhorn_log: %d iterations, last err %.3e"
          % (log["niter"] + 1, log["err"][-1]))
    return P


def verify_balanced(P, C, a, b, eps):
    check("max |P 1 - a|", np.max(np.abs(P.sum(1) - a)), 1e-12)
    check("max |P^T 1 - b|", np.max(np.abs(P.sum(0) - b)), 1e-12)
    Q, f, g, it = log_sinkhorn(a, b, C, eps)
    print("    own log-Sinkhorn: %d iterations" % it)
    # P_own is by construction a_i b_j exp((f_i+g_j-C_ij)/eps), so this also
    # checks that POT's plan has our Gibbs form.
    check("max|a b exp((f+g-C)/eps) - P_pot| / max P  (own f,g)", relmax(Q, P), 1e-10)
    return Q


def points(rng, n, m):
    x = rng.uniform(size=(n, 2))
    y = rng.uniform(size=(m, 2))
    return ot.dist(x, y)  # squared Euclidean


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------
def case_balanced_small():
    print("balanced_small")
    rng = np.random.RandomState(1)
    n, m, eps = 7, 5, 0.05
    C = points(rng, n, m)
    a = rng.uniform(0.5, 1.5, size=n)
    a /= a.sum()
    b = rng.uniform(0.5, 1.5, size=m)
    b /= b.sum()
    P = pot_balanced(a, b, C, eps)
    verify_balanced(P, C, a, b, eps)
    write_case("balanced_small", C, a, b, P, eps, INF, INF)


def case_balanced_medium():
    print("balanced_medium")
    rng = np.random.RandomState(2)
    n, m, eps = 30, 40, 0.01
    C = points(rng, n, m)
    a = np.full(n, 1.0 / n)
    b = np.full(m, 1.0 / m)
    P = pot_balanced(a, b, C, eps)
    verify_balanced(P, C, a, b, eps)
    write_case("balanced_medium", C, a, b, P, eps, INF, INF)


def case_unbalanced():
    print("unbalanced")
    rng = np.random.RandomState(3)
    n, m, eps, rho = 12, 9, 0.05, 0.5
    C = points(rng, n, m)
    a = rng.uniform(0.5, 1.5, size=n)
    a *= 1.0 / a.sum()
    b = rng.uniform(0.5, 1.5, size=m)
    b *= 1.5 / b.sum()
    # cost shift mapping our KL(P | a (x) b) entropy onto POT's sum P(log P - 1)
    Mshift = C - eps * (np.log(a)[:, None] + np.log(b)[None, :])
    P, log = ot.unbalanced.sinkhorn_unbalanced(
        a, b, Mshift, eps, rho, method="sinkhorn", numItermax=1000000,
        stopThr=1e-15, log=True)
    print("    POT sinkhorn_unbalanced: %d iterations, last err %.3e"
          % (len(log["err"]), log["err"][-1]))
    r, c = P.sum(1), P.sum(0)
    print("    mass: sum a = %r, sum b = %r, sum P = %r" % (a.sum(), b.sum(), P.sum()))
    # first-order conditions -> potentials -> Gibbs form must reproduce P
    f = -rho * np.log(r / a)
    g = -rho * np.log(c / b)
    G = a[:, None] * b[None, :] * np.exp((f[:, None] + g[None, :] - C) / eps)
    check("max|a b exp((f+g-C)/eps) - P_pot| / max P", relmax(G, P), 1e-10)
    check("max_ij |G_ij / P_ij - 1| (entrywise)", float(np.max(np.abs(G / P - 1))), 1e-10)
    # independent solver in our convention
    Q, fo, go, it = log_sinkhorn(a, b, C, eps, rho, rho)
    print("    own log-Sinkhorn: %d iterations" % it)
    check("max|P_pot - P_own| / max P", relmax(P, Q), 1e-10)
    check("max|f_pot - f_own| + max|g_pot - g_own|",
          float(np.max(np.abs(f - fo)) + np.max(np.abs(g - go))), 1e-10)
    # objective sanity: POT plan is (numerically) optimal for our objective
    Jp, Jo = objective(P, C, a, b, eps, rho, rho), objective(Q, C, a, b, eps, rho, rho)
    check("|J(P_pot) - J(P_own)|", abs(Jp - Jo), 1e-12)
    # show that the shift matters (unshifted POT call solves a different problem)
    P0 = ot.unbalanced.sinkhorn_unbalanced(a, b, C, eps, rho, numItermax=1000000,
                                           stopThr=1e-15)
    print("    (info) unshifted POT plan differs by rel %.3e -> shift is required"
          % relmax(P0, P))
    # show that POT implements sum P(log P - 1), not the docstring's sum P log P:
    # sum P log P = sum P (log P - 1) + sum P, i.e. our problem with cost C + eps.
    Qdoc, _, _, _ = log_sinkhorn(a, b, C + eps, eps, rho, rho)
    print("    (info) docstring reading (Omega = sum P log P) would give a plan "
          "differing by rel %.3e" % relmax(Qdoc, P))
    write_case("unbalanced", C, a, b, P, eps, rho, rho)


def case_balanced_forbidden():
    print("balanced_forbidden")
    rng = np.random.RandomState(4)
    n = m = 6
    eps = 0.1
    C = rng.uniform(size=(n, m))
    forbidden = [(0, 1), (1, 4), (2, 2), (3, 0), (4, 5), (5, 3), (0, 5)]
    for i, j in forbidden:
        C[i, j] = INF
    fin = np.isfinite(C)
    assert fin.sum(1).min() >= 2 and fin.sum(0).min() >= 2
    a = np.full(n, 1.0 / n)
    b = np.full(m, 1.0 / m)
    P, f, g, it = log_sinkhorn(a, b, C, eps)
    print("    own log-Sinkhorn: %d iterations" % it)
    check("max |P 1 - a|", np.max(np.abs(P.sum(1) - a)), 1e-14)
    check("max |P^T 1 - b|", np.max(np.abs(P.sum(0) - b)), 1e-14)
    check("max P on forbidden entries", float(np.max(P[~fin])), 0.0)
    # cross-check against POT with inf -> 1e3 (exp(-1e4) == 0 in double)
    Cbig = np.where(fin, C, 1e3)
    Ppot = pot_balanced(a, b, Cbig, eps)
    check("max|P_pot(inf->1e3) - P_own| / max P", relmax(Ppot, P), 1e-12)
    write_case("balanced_forbidden", C, a, b, P, eps, INF, INF)


def main():
    print("POT %s, numpy %s, python %s" % (ot.__version__, np.__version__,
                                          sys.version.split()[0]))
    case_balanced_small()
    case_balanced_medium()
    case_unbalanced()
    case_balanced_forbidden()
    print("all checks passed")


if __name__ == "__main__":
    main()
