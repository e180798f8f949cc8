"""The POT-compatible functions against POT 0.8.2 itself (Debian's python3-pot)."""

import numpy as np
import ot
import pytest

import eot
from conftest import clouds, weights


@pytest.fixture
def problem(rng):
    _, _, cost = clouds(rng, 30, 20)
    return weights(rng, 30), weights(rng, 20), cost


def test_sinkhorn_plan_and_value_are_pots(problem):
    a, b, M = problem
    for reg in (0.5, 0.05, 0.01):
        reference = ot.sinkhorn(a, b, M, reg, numItermax=200000, stopThr=1e-14)
        np.testing.assert_allclose(eot.sinkhorn(a, b, M, reg), reference, atol=1e-7, rtol=0)
        value = ot.sinkhorn2(a, b, M, reg, numItermax=200000, stopThr=1e-14)
        assert abs(eot.sinkhorn2(a, b, M, reg) - value) < 1e-9


def test_sinkhorn_log_has_pots_keys_and_meaning(problem):
    a, b, M = problem
    plan, log = eot.sinkhorn(a, b, M, 0.05, log=True)
    _, pot_log = ot.sinkhorn(a, b, M, 0.05, log=True)
    assert set(pot_log) <= set(log)
    np.testing.assert_allclose(log["u"][:, None] * np.exp(-M / 0.05) * log["v"][None, :], plan,
                               rtol=1e-12)
    assert log["niter"] > 0 and log["err"][-1] <= 1e-9
    value, log2 = eot.sinkhorn2(a, b, M, 0.05, log=True)
    assert value == pytest.approx((plan * M).sum(), rel=1e-14) and "u" in log2


def test_sinkhorn_defaults_uniform_weights_and_float32(problem):
    _, _, M = problem
    np.testing.assert_allclose(eot.sinkhorn([], [], M, 0.1),
                               ot.sinkhorn([], [], M, 0.1, stopThr=1e-14, numItermax=10**5),
                               atol=1e-7, rtol=0)
    single = eot.sinkhorn([], [], M.astype(np.float32), 0.1)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, ot.sinkhorn([], [], M, 0.1), atol=1e-6, rtol=0)


def test_sinkhorn_warns_like_pot_when_the_budget_runs_out(problem):
    a, b, M = problem
    with pytest.warns(UserWarning, match="Sinkhorn did not converge"):
        eot.sinkhorn(a, b, M, 0.001, numItermax=3)
    with pytest.raises(ValueError, match="Unknown method"):
        eot.sinkhorn(a, b, M, 0.1, method="greenkhorn2")


def test_unbalanced_plan_and_log_are_pots(problem):
    a, b, M = problem
    a = 2 * a  # masses 2 and 1
    for reg, reg_m in ((0.1, 1.0), (0.05, 0.3), (0.02, 5.0)):
        reference, pot_log = ot.unbalanced.sinkhorn_unbalanced(
            a, b, M, reg, reg_m, numItermax=10**6, stopThr=1e-15, log=True)
        plan, log = eot.unbalanced.sinkhorn_unbalanced(a, b, M, reg, reg_m, stopThr=1e-12,
                                                      log=True)
        np.testing.assert_allclose(plan, reference, atol=1e-7, rtol=0)
        np.testing.assert_allclose(log["logu"], pot_log["logu"], atol=1e-6)
        value = ot.unbalanced.sinkhorn_unbalanced2(a, b, M, reg, reg_m, numItermax=10**6,
                                                   stopThr=1e-15)
        assert abs(eot.unbalanced.sinkhorn_unbalanced2(a, b, M, reg, reg_m, stopThr=1e-12)
                   - float(np.squeeze(value))) < 1e-9


def test_unbalanced_zero_weights_empty_their_rows(problem):
    a, b, M = problem
    a = a.copy()
    a[4] = 0
    plan = eot.unbalanced.sinkhorn_unbalanced(a, b, M, 0.1, 1.0, stopThr=1e-12)
    reference = ot.unbalanced.sinkhorn_unbalanced(a, b, M, 0.1, 1.0, numItermax=10**6,
                                                  stopThr=1e-15)
    assert not plan[4].any()
    np.testing.assert_allclose(plan, reference, atol=1e-7, rtol=0)


def test_emd_plan_cost_and_duals_are_pots(problem):
    a, b, M = problem
    plan, log = eot.emd(a, b, M, log=True)
    reference, pot_log = ot.emd(a, b, M, log=True)
    np.testing.assert_allclose(plan, reference, atol=1e-12)
    assert abs(eot.emd2(a, b, M) - ot.emd2(a, b, M)) < 1e-12
    assert abs(log["cost"] - pot_log["cost"]) < 1e-12
    np.testing.assert_allclose(log["u"], pot_log["u"], atol=1e-9)
    np.testing.assert_allclose(log["v"], pot_log["v"], atol=1e-9)
    np.testing.assert_allclose(eot.emd([], [], M), ot.emd([], [], M), atol=1e-12)
    with pytest.raises(ValueError, match="mass"):
        eot.emd(a, 2 * b, M)


@pytest.mark.parametrize("metric", eot.METRICS)
def test_every_point_cloud_metric_is_pots_dist(rng, metric):
    # POT's ot.dist names these 'sqeuclidean', 'euclidean' and 'cosine' (scipy's cdist); negdot
    # is -x y^T. A zero vector (cosine: 1 against everything, where scipy gives NaN) is left out.
    x, y = rng.normal(size=(25, 3)), rng.normal(size=(15, 3))
    cost = -x @ y.T if metric == "negdot" else ot.dist(x, y, metric=metric)
    points, dense = eot.solve(x=x, y=y, metric=metric, epsilon=0.1), eot.solve(cost, epsilon=0.1)
    assert points.status == dense.status == "converged"
    assert points.iterations == dense.iterations
    np.testing.assert_allclose(points.plan(), dense.plan(), atol=1e-12)
