"""eot.solve and eot.solve_batched: the library's answers, through NumPy."""

import json
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import eot
from conftest import clouds, weights

CLI = pathlib.Path(eot.__file__).resolve().parents[2] / "apps" / "eot"


def test_balanced_solution_meets_its_marginals_and_closes_the_gap(rng):
    x, y, cost = clouds(rng)
    a, b = weights(rng, 30), weights(rng, 20)
    r = eot.solve(cost, a=a, b=b, epsilon=0.05)
    assert r.status == "converged" and r.converged
    plan = r.plan()
    assert plan.shape == (30, 20) and plan.dtype == np.float64
    np.testing.assert_allclose(plan.sum(1), a, atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), b, atol=1e-9)
    np.testing.assert_allclose(r.row_marginal, plan.sum(1), atol=1e-15)
    assert r.transport_cost == pytest.approx((plan * cost).sum(), rel=1e-12)
    assert abs(r.primal - r.dual) <= 1e-9 * abs(r.primal)
    # The first-order conditions: P = a b^T exp((f + g - C) / epsilon).
    np.testing.assert_allclose(
        plan, a[:, None] * b[None, :] * np.exp((r.f[:, None] + r.g[None, :] - cost) / 0.05),
        rtol=1e-12)


def test_point_clouds_give_the_dense_answer(rng):
    x, y, cost = clouds(rng)
    dense = eot.solve(cost, epsilon=0.02)
    points = eot.solve(x=x, y=y, epsilon=0.02)
    assert points.geometry.startswith("point cloud") and dense.geometry.startswith("dense")
    np.testing.assert_allclose(points.plan(), dense.plan(), atol=1e-12)


def test_every_json_field_of_the_command_line_is_an_attribute_with_its_value(rng, tmp_path):
    _, _, cost = clouds(rng, 12, 9)
    np.save(tmp_path / "cost.npy", cost)
    printed = json.loads(subprocess.run(
        [CLI, "solve", "--cost", tmp_path / "cost.npy", "--epsilon", "0.03", "--rho-b", "0.5",
         "--threads", "1", "--json"], check=True, capture_output=True, text=True).stdout)
    r = eot.solve(cost, epsilon=0.03, rho_b=0.5, threads=1)
    for name, value in printed.items():
        if name == "solve_time_seconds":
            continue
        mine = getattr(r, name)
        if name in ("rho_a", "rho_b") and value == "inf":
            value = float("inf")
        assert mine == value, name


def test_float32_costs_are_solved_in_float_when_asked(rng):
    _, _, cost = clouds(rng)
    r = eot.solve(cost.astype(np.float32), epsilon=0.05, precision="float")
    assert r.precision == "float" and r.converged and r.plan().dtype == np.float32
    double = eot.solve(cost, epsilon=0.05)
    assert r.transport_cost == pytest.approx(double.transport_cost, rel=1e-5)


def test_any_layout_gives_the_same_answer(rng):
    _, _, cost = clouds(rng)
    c_order = eot.solve(cost, epsilon=0.05)
    for other in (np.asfortranarray(cost), cost.T.copy().T, cost.astype(object),
                  cost.tolist()):
        r = eot.solve(other, epsilon=0.05)
        np.testing.assert_array_equal(r.f, c_order.f)


def test_unbalanced_and_one_sided(rng):
    x, y, cost = clouds(rng)
    r = eot.solve(cost, epsilon=0.05, rho_a=0.3, rho_b=0.7)
    assert r.regime == "unbalanced" and r.converged and r.mass < 1
    one = eot.solve(cost, epsilon=0.05, rho_b=0)  # columns free: each row a softmax
    expected = np.exp(-cost / 0.05)
    expected /= expected.sum(1, keepdims=True) * 30
    np.testing.assert_allclose(one.plan(), expected, rtol=1e-12)


def test_batches_are_each_problem_solved_alone(rng):
    costs = rng.random((4, 7, 5))
    a = np.stack([weights(rng, 7) for _ in range(4)])
    results = eot.solve_batched(costs, a=a, epsilon=0.05)
    assert len(results) == 4
    for k, r in enumerate(results):
        alone = eot.solve(costs[k], a=a[k], epsilon=0.05)
        np.testing.assert_array_equal(r.f, alone.f)
        np.testing.assert_array_equal(r.plan(), alone.plan())
    x, y = rng.random((3, 6, 2)), rng.random((4, 2))  # y shared
    clouds_batch = eot.solve_batched(x=x, y=y, epsilon=0.1)
    np.testing.assert_array_equal(clouds_batch[2].g, eot.solve(x=x[2], y=y, epsilon=0.1).g)


def test_bad_input_raises_value_error_with_the_librarys_message(rng):
    _, _, cost = clouds(rng)
    bad = cost.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"cost\(3, 4\) is nan"):
        eot.solve(bad, epsilon=0.1)
    with pytest.raises(ValueError, match="a has 3 entries"):
        eot.solve(cost, a=np.ones(3) / 3, epsilon=0.1)
    with pytest.raises(ValueError, match="epsilon"):
        eot.solve(cost, epsilon=0)
    with pytest.raises(ValueError, match="precision"):
        eot.solve(cost, epsilon=0.1, precision="half")
    with pytest.raises(ValueError, match="not both"):
        eot.solve(cost, x=cost, y=cost, epsilon=0.1)
    with pytest.raises(ValueError, match="cost has 3 dimensions"):
        eot.solve(np.ones((2, 3, 3)), epsilon=0.1)
    with pytest.raises(ValueError, match="not an array of numbers"):
        eot.solve([["a", "b"]], epsilon=0.1)
    with pytest.raises(ValueError, match="metric"):
        eot.solve(x=cost, y=cost, metric="cityblock", epsilon=0.1)
    with pytest.raises(ValueError, match="problem 1: "):
        eot.solve_batched(np.stack([cost, bad]), epsilon=0.1)
    with pytest.raises(TypeError):
        eot.solve(cost)  # epsilon is required


def test_the_result_keeps_the_costs_it_borrowed_alive(rng):
    _, _, cost = clouds(rng)
    r = eot.solve(cost.copy(), epsilon=0.05)  # the only reference to the array is the result's
    expected = eot.solve(cost, epsilon=0.05).plan()
    del _
    np.testing.assert_array_equal(r.plan(), expected)


def test_the_gil_is_released_while_the_library_works(rng):
    x, y = rng.random((1500, 2)), rng.random((1500, 2))

    def spin(stop, state):
        """Counts the loops this thread makes while state["inside"], until `stop` is set."""
        spins = 0
        while not stop.is_set():
            if state["inside"]:
                spins += 1
        return spins

    stop, always = threading.Event(), {"inside": True}
    threading.Timer(0.2, stop.set).start()
    start = time.perf_counter()
    rate = spin(stop, always) / (time.perf_counter() - start)

    done, state, window = threading.Event(), {"inside": False}, {}

    def work():
        state["inside"] = True
        window["start"] = time.perf_counter()
        eot.solve(x=x, y=y, epsilon=1e-3, max_iterations=1000, tolerance=1e-300, threads=1,
                  newton="off")
        window["end"] = time.perf_counter()
        state["inside"] = False
        done.set()

    thread = threading.Thread(target=work)
    thread.start()
    spins = spin(done, state)
    thread.join()
    # Held through the solve, the GIL would let this thread loop only at its edges (a switch
    # interval, 5 ms, each); released, for most of the solve (hundreds of ms).
    share = spins / (rate * (window["end"] - window["start"]))
    assert share > 0.1, share


def test_ctrl_c_stops_a_long_solve_with_keyboard_interrupt():
    child = subprocess.Popen([sys.executable, "-c", """
import sys, numpy as np, eot
x = np.random.default_rng(0).random((3000, 2))
print("solving", flush=True)
try:
    eot.solve(x=x, y=x, epsilon=1e-4, max_iterations=10**7, tolerance=1e-300, newton="off",
              threads=1)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(7)
"""], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "solving\n"
    time.sleep(1.0)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=30)
    # The solve had minutes left; it stops within a block of rows (generous: a busy machine).
    assert time.monotonic() - sent < 5
    assert child.returncode == 7 and out == "KeyboardInterrupt\n"
