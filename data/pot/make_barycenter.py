"""Reference entropic barycenters from POT, for tests/test_barycenter.cpp.

Three histograms on a 1-D grid of 60 points (a bump, two bumps, a plateau), squared distances
scaled to max 1, weights (0.2, 0.3, 0.5), epsilon 0.01: POT's ot.bregman.barycenter with
method='sinkhorn_log', and the debiased one, ot.bregman.barycenter_debiased, likewise, both run
to stopThr 1e-14. Writes data/pot/barycenter/{cost,measures,lambdas,barycenter,
barycenter_debiased}.csv (measures one histogram a row, eot's layout; POT takes columns).
Run from the repository root with Debian's python (python3-pot 0.8.2, numpy):

    /usr/bin/python3 data/pot/make_barycenter.py
"""
import os

import numpy as np
import ot

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "barycenter")

n = 60
grid = np.linspace(0, 1, n)
cost = (grid[:, None] - grid[None, :]) ** 2
cost /= cost.max()
bump = np.exp(-((grid - 0.2) / 0.05) ** 2)
two = np.exp(-((grid - 0.5) / 0.04) ** 2) + 0.5 * np.exp(-((grid - 0.9) / 0.03) ** 2)
plateau = ((grid > 0.55) & (grid < 0.8)).astype(float) + 1e-3
measures = np.stack([h / h.sum() for h in (bump, two, plateau)])
lambdas = np.array([0.2, 0.3, 0.5])
bary = ot.bregman.barycenter(measures.T, cost, 0.01, weights=lambdas, method="sinkhorn_log",
                             numItermax=100000, stopThr=1e-14)
debiased, log = ot.bregman.barycenter_debiased(measures.T, cost, 0.01, weights=lambdas,
                                               method="sinkhorn_log", numItermax=100000,
                                               stopThr=1e-14, log=True)
os.makedirs(HERE, exist_ok=True)
for name, values in (("cost", cost), ("measures", measures), ("lambdas", lambdas),
                     ("barycenter", bary), ("barycenter_debiased", debiased)):
    np.savetxt(os.path.join(HERE, name + ".csv"), np.atleast_2d(values).T if values.ndim == 1
               else values, delimiter=",", fmt="%.17g")
print(f"barycenter of {len(lambdas)} histograms on {n} points: mass {bary.sum():.15f}; "
      f"debiased: mass {debiased.sum():.15f}, {log['niter']} iterations, error {log['err'][-1]:.1e}")
