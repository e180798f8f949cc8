"""`mpirun -np P eot solve`, run as a user would, against the same command on one process.

ctest sets EOT_CLI (the eot binary) and MPIRUN (Open MPI's mpirun).
"""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

EOT = os.environ["EOT_CLI"]
MPIRUN = [os.environ["MPIRUN"], "--oversubscribe", "--allow-run-as-root"]
VALUES = ["transport_cost", "primal", "dual", "entropy", "mass"]


def run(args, ranks=None, **kwargs):
    command = ([*MPIRUN, "-np", str(ranks)] if ranks else []) + [EOT, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


def solve_json(args, ranks=None):
    result = run(["solve", "--json", *args], ranks)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mpi")
    rng = np.random.default_rng(7)
    x, y = rng.random((301, 3)), rng.random((257, 3))
    cost = rng.random((301, 257)) * 2
    cost[::9, 4] = np.inf
    a, b = rng.random(301) + 0.1, rng.random(257) + 0.1
    paths = {}
    for name, value in [("x.npy", x), ("y.npy", y), ("cost.npy", cost)]:
        np.save(folder / name, value)
        paths[name] = str(folder / name)
    np.save(folder / "x_fortran.npy", np.asfortranarray(x))
    paths["x_fortran.npy"] = str(folder / "x_fortran.npy")
    for name, value in [("x.csv", x), ("a.csv", a / a.sum()), ("b.csv", b / b.sum())]:
        np.savetxt(folder / name, value, delimiter=",")
        paths[name] = str(folder / name)
    paths["folder"] = folder
    return paths


CASES = {
    "points": lambda p: ["--x", p["x.npy"], "--y", p["y.npy"], "--epsilon", "0.01"],
    "points, text and Fortran order": lambda p: ["--x", p["x.csv"], "--y", p["x_fortran.npy"],
                                                 "--epsilon", "0.02"],
    "dense, forbidden pairs, weights": lambda p: ["--cost", p["cost.npy"], "--a", p["a.csv"],
                                                  "--b", p["b.csv"], "--epsilon", "0.05"],
    "unbalanced": lambda p: ["--cost", p["cost.npy"], "--epsilon", "0.05", "--rho-a", "0.5",
                             "--rho-b", "2"],
    "one-sided": lambda p: ["--x", p["x.npy"], "--y", p["y.npy"], "--epsilon", "0.1",
                            "--rho-b", "0"],
    "float": lambda p: ["--x", p["x.npy"], "--y", p["y.npy"], "--epsilon", "0.05",
                        "--precision", "float"],
}


@pytest.mark.parametrize("case", CASES)
def test_the_same_answer_as_one_process(files, case):
    args = CASES[case](files)
    alone = solve_json([*args, "--domain", "log", "--newton", "off"])
    assert alone["ranks"] == 1
    relative = 1e-5 if "float" in case else 1e-12
    for ranks in (2, 3):
        split = solve_json(args, ranks)
        assert split["ranks"] == ranks
        for field in ["status", "iterations", "n", "m", "geometry", "regime", "precision"]:
            assert split[field] == alone[field], field
        for field in VALUES:
            assert split[field] == pytest.approx(alone[field], rel=relative, abs=1e-300), field
        assert split["marginal_error"] == pytest.approx(alone["marginal_error"],
                                                        abs=relative * alone["mass"])


def test_outputs_are_the_whole_problem_s(files):
    folder = files["folder"]
    args = CASES["dense, forbidden pairs, weights"](files)
    written = {}
    for ranks in (None, 2):
        tag = f"{ranks or 1}"
        outputs = [f"{folder}/plan{tag}.npy", f"{folder}/potentials{tag}.npy",
                   f"{folder}/marginals{tag}.csv"]
        result = run(["solve", *args, "--domain", "log", "--plan", outputs[0],
                      "--potentials", outputs[1], "--marginals", outputs[2]], ranks)
        assert result.returncode == 0, result.stderr
        written[tag] = [np.load(outputs[0]), np.load(outputs[1]), np.loadtxt(outputs[2])]
    for alone, split in zip(written["1"], written["2"]):
        assert alone.shape == split.shape
        np.testing.assert_allclose(split, alone, rtol=1e-12, atol=1e-15)


def test_repeated_runs_are_bitwise_identical(files):
    args = CASES["points"](files)
    runs = [solve_json(args, 2) for _ in range(2)]
    for result in runs:
        del result["solve_time_seconds"]
    assert runs[0] == runs[1]


def test_the_other_ranks_print_nothing(files):
    result = run(["solve", *CASES["points"](files)], 2)
    assert result.returncode == 0
    assert result.stdout.count("eot: entropic optimal transport") == 1
    assert result.stderr == ""


def test_bad_input_is_reported_once_with_the_exit_code_of_every_rank(files):
    cost = np.load(files["cost.npy"])
    cost[250, 3] = np.nan  # in the last rank's rows
    bad = files["folder"] / "bad.npy"
    np.save(bad, cost)
    result = run(["solve", "--cost", str(bad), "--epsilon", "0.05"], 2)
    assert result.returncode == 2
    message = f"eot: {bad}: cost(250, 3) is nan"
    assert (result.stdout + result.stderr).count(message) == 1, result.stderr
    # Refused by the library's rule over the whole problem: masses are summed over ranks.
    result = run(["solve", *CASES["points"](files), "--a", files["b.csv"]], 2)
    assert result.returncode == 2
    assert "b.csv" in result.stderr


def test_the_standard_input_is_refused(files):
    result = run(["solve", "--x", "-", "--y", files["y.npy"], "--epsilon", "1"], 2)
    assert result.returncode == 2
    assert result.stderr.count("the standard input reaches one process only") == 1


def test_only_solve_is_distributed(files):
    result = run(["exact", "--x", files["x.npy"], "--y", files["y.npy"]], 2)
    assert result.returncode == 2
    assert result.stderr.count("eot exact runs on one process, not 2") == 1


def test_each_rank_reads_only_its_rows(files):
    # The x file takes 1.9 MB; its half of the rows fits in 1.5 MB, the whole does not.
    big = files["folder"] / "tall.npy"
    np.save(big, np.random.default_rng(3).random((80000, 3)))
    args = ["--x", str(big), "--y", files["y.npy"], "--epsilon", "1", "--memory-limit", "1.5M",
            "--max-iterations", "1"]
    alone = run(["solve", *args])
    assert alone.returncode == 2 and "tall.npy" in alone.stderr
    split = run(["solve", *args], 2)
    assert split.returncode in (0, 3), split.stderr


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_mpirun_stops_every_rank_with_nothing_written(files, signal_number):
    folder = files["folder"]
    rng = np.random.default_rng(5)
    np.save(folder / "long.npy", rng.random((6000, 2)))
    output = folder / f"never{signal_number}.npy"
    process = subprocess.Popen(
        [*MPIRUN, "-np", "2", EOT, "solve", "--x", str(folder / "long.npy"), "--y",
         str(folder / "long.npy"), "--epsilon", "1e-4", "--max-iterations", "100000",
         "--potentials", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    assert process.poll() is None, "the solve ended before the signal"
    sent = time.monotonic()
    process.send_signal(signal_number)
    process.communicate(timeout=30)
    # mpirun passes SIGTERM on to the ranks a second after its own signal (Open MPI's
    # odls_base_sigkill_timeout); the ranks then stop at once. None is left behind.
    while time.monotonic() - sent < 5:
        ranks = subprocess.run(["pgrep", "-f", f"^{EOT} solve .*{output}"], capture_output=True,
                               text=True)
        if ranks.stdout == "":
            break
        time.sleep(0.05)
    assert time.monotonic() - sent < 1.5, "the ranks took more than half a second to stop"
    assert not output.exists()
    assert not [name for name in os.listdir(folder) if name.startswith(".eot-partial")]
