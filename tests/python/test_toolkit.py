"""Divergence, barycenter and exact OT through Python."""

import numpy as np
import ot
import pytest

import eot
from conftest import clouds, weights


def test_divergence_is_its_three_entropic_values(rng):
    x, y, _ = clouds(rng, 15, 12)
    a, b = weights(rng, 15), weights(rng, 12)
    r = eot.divergence(x, y, a=a, b=b, epsilon=0.05, tolerance=1e-12)
    assert r.status == "converged"
    ot_xy = eot.solve(x=x, y=y, a=a, b=b, epsilon=0.05, tolerance=1e-12).primal
    ot_xx = eot.solve(x=x, y=x, a=a, b=a, epsilon=0.05, tolerance=1e-12).primal
    assert r.ot_xy == pytest.approx(ot_xy, rel=1e-9) and r.ot_xx == pytest.approx(ot_xx, rel=1e-9)
    assert r.divergence == pytest.approx(r.ot_xy - r.ot_xx / 2 - r.ot_yy / 2, abs=1e-12)
    assert r.divergence > 0 and r.grad_x.shape == (15, 2)
    assert abs(eot.divergence(x, x, epsilon=0.05).divergence) < 1e-9


def test_barycenter_is_pots(rng):
    support = np.linspace(0, 1, 40)[:, None]
    cost = (support - support.T) ** 2
    measures = np.stack([np.exp(-(support[:, 0] - c) ** 2 / 0.01) for c in (0.2, 0.7)])
    measures /= measures.sum(1, keepdims=True)
    r = eot.barycenter(measures, cost, epsilon=0.01, weights=[0.3, 0.7], tolerance=1e-11)
    reference = ot.bregman.barycenter(measures.T, cost, 0.01, weights=np.array([0.3, 0.7]),
                                      method="sinkhorn_log", numItermax=10**5, stopThr=1e-14)
    assert r.status == "converged"
    np.testing.assert_allclose(r.barycenter, reference, atol=1e-8)


def test_exact_ot_from_points_is_pots(rng):
    x, y, cost = clouds(rng, 25, 25)
    r = eot.exact(x=x, y=y)
    assert r.cost == pytest.approx(ot.emd2([], [], cost), abs=1e-12)
    assert r.dual == pytest.approx(r.cost, abs=1e-12)
    np.testing.assert_allclose(r.plan.sum(0), np.full(25, 1 / 25), atol=1e-15)
