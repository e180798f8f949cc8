"""Reference solutions of small-epsilon balanced problems, by an independent method.

The method is Newton's on the semi-dual, dense, with epsilon continuation: g is eliminated
by its exact update g(f)_j = -eps LSE_i [log a_i + (f_i - C_ij) / eps], so that the plan's
columns always sum to b, and F(f) = <a, f> + <b, g(f)> is maximized. Its gradient is a - r
(r = P 1) and its Hessian -(diag(r) - P diag(1 / b) P^T) / eps; each Newton system is solved
densely (least squares: the Hessian is singular along f + k), with a backtracking line search
on F. Epsilon runs down from the cost range by halves, each stage warm-started.
eot's solver shares none of this: it runs Sinkhorn, then Newton steps on the full dual with a
sparsified Hessian solved by conjugate gradients (docs/conventions.md, "The Newton stage").

Run from the repository root with Debian's python (numpy):

    /usr/bin/python3 data/newton/make_reference.py

Writes data/newton/<case>/{cost,f,g}.csv; exits non-zero if a case does not converge to a
marginal error (l1, both sides) below 1e-12.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def lse(z, axis):
    top = z.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def g_of(f, C, log_a, eps):
    return -eps * lse(log_a[:, None] + (f[:, None] - C) / eps, axis=0)


def plan(f, g, C, log_a, log_b, eps):
    return np.exp(log_a[:, None] + log_b[None, :] + (f[:, None] + g[None, :] - C) / eps)


def semi_dual(f, C, a, b, log_a, eps):
    return a @ f + b @ g_of(f, C, log_a, eps)


def newton(C, a, b, eps, f, steps=200):
    log_a, log_b = np.log(a), np.log(b)
    for _ in range(steps):
        g = g_of(f, C, log_a, eps)
        P = plan(f, g, C, log_a, log_b, eps)
        r = P.sum(axis=1)
        grad = a - r
        if np.abs(grad).sum() < 1e-14:
            break
        H = (np.diag(r) - (P / b[None, :]) @ P.T) / eps
        d = np.linalg.lstsq(H, grad, rcond=None)[0]
        value, slope, t = semi_dual(f, C, a, b, log_a, eps), grad @ d, 1.0
        while t > 1e-12 and semi_dual(f + t * d, C, a, b, log_a, eps) < value + 1e-4 * t * slope:
            t /= 2
        f = f + t * d
    return f


def solve(C, a, b, eps):
    f = np.zeros(len(a))
    stage = C.max() - C.min()
    while stage > eps:
        f = newton(C, a, b, stage, f)
        stage /= 2
    f = newton(C, a, b, eps, f)
    log_a, log_b = np.log(a), np.log(b)
    g = g_of(f, C, log_a, eps)
    P = plan(f, g, C, log_a, log_b, eps)
    error = np.abs(P.sum(axis=1) - a).sum() + np.abs(P.sum(axis=0) - b).sum()
    return f, g, error


def points(n, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=-1)
    return C / C.max()


CASES = {
    # 50 points in the unit square, cost scaled to max 1, epsilon 1e-3: over-relaxed Sinkhorn
    # takes 151 570 iterations to a relative marginal error of 1e-8 (the seed is one of the slow ones)
    "points50_eps1e-3": (points(50, 7), 1e-3),
    "points200_eps1e-4": (points(200, 2), 1e-4),
}


def main():
    failed = False
    for name, (C, eps) in CASES.items():
        n, m = C.shape
        a, b = np.full(n, 1 / n), np.full(m, 1 / m)
        f, g, error = solve(C, a, b, eps)
        folder = os.path.join(HERE, name)
        os.makedirs(folder, exist_ok=True)
        for file, values in (("cost", C), ("f", f), ("g", g)):
            np.savetxt(os.path.join(folder, file + ".csv"), np.atleast_2d(values).T
                       if values.ndim == 1 else values, delimiter=",", fmt="%.17g")
        print(f"{name}: {n} x {m}, epsilon {eps}, marginal error {error:.2e}")
        failed |= not error < 1e-12
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
