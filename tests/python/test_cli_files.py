"""Files the command line writes, read back by NumPy (an independent reader)."""
import subprocess
import zipfile

import numpy as np

from test_solve import CLI


def run(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)


def test_npz_outputs_hold_f_and_g_and_the_marginals_by_name(rng, tmp_path):
    x, y = rng.random((23, 2)), rng.random((17, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    solve = ["solve", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--epsilon", "0.05"]
    assert run(*solve, "--potentials", tmp_path / "p.npz", "--marginals", tmp_path / "m.npz",
               "--plan", tmp_path / "plan.npz").returncode == 0
    assert run(*solve, "--potentials", tmp_path / "p.npy", "--marginals", tmp_path / "m.npy",
               "--plan", tmp_path / "plan.npy").returncode == 0
    for name in ["p.npz", "m.npz", "plan.npz"]:
        assert zipfile.ZipFile(tmp_path / name).testzip() is None  # every CRC right
    potentials, both = np.load(tmp_path / "p.npz"), np.load(tmp_path / "p.npy")
    assert potentials.files == ["f", "g"]
    assert potentials["f"].shape == (23,) and potentials["g"].shape == (17,)
    np.testing.assert_array_equal(np.concatenate([potentials["f"], potentials["g"]]), both)
    marginals = np.load(tmp_path / "m.npz")
    assert marginals.files == ["row_marginal", "col_marginal"]
    np.testing.assert_array_equal(
        np.concatenate([marginals["row_marginal"], marginals["col_marginal"]]),
        np.load(tmp_path / "m.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "plan.npz")["arr_0"],
                                  np.load(tmp_path / "plan.npy"))


def test_a_batch_s_npz_potentials_are_b_x_n_and_b_x_m(rng, tmp_path):
    np.save(tmp_path / "x.npy", rng.random((3, 11, 2)))
    np.save(tmp_path / "y.npy", rng.random((3, 7, 2)))
    solve = ["solve", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--epsilon", "0.1"]
    assert run(*solve, "--potentials", tmp_path / "p.npz").returncode == 0
    assert run(*solve, "--potentials", tmp_path / "p.npy").returncode == 0
    named, rows = np.load(tmp_path / "p.npz"), np.load(tmp_path / "p.npy")
    assert named["f"].shape == (3, 11) and named["g"].shape == (3, 7)
    np.testing.assert_array_equal(np.hstack([named["f"], named["g"]]), rows)


def test_an_npz_input_is_refused_with_advice(tmp_path):
    np.savez(tmp_path / "cost.npz", cost=np.ones((2, 2)))
    result = run("solve", "--cost", tmp_path / "cost.npz", "--epsilon", "1")
    assert result.returncode == 2
    assert ".npz archives are written, not read; give each array as a .npy file" in result.stderr
