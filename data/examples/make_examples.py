"""Writes the small example inputs used in docs/cli.md (seeded, deterministic).

Run from the repository root:  /usr/bin/python3 data/examples/make_examples.py
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.RandomState(7)


def save(name, array):
    np.savetxt(os.path.join(here, name), array, fmt="%.6f", delimiter=",")


# Two point clouds in the plane: a blob and a shifted, stretched blob.
save("x.csv", rng.normal(size=(6, 2)) * 0.3)
save("y.csv", rng.normal(size=(8, 2)) * [0.5, 0.2] + [1.0, 0.5])
# Weights of different total mass (2 and 3), for the unbalanced example.
save("a.csv", np.full(6, 2.0 / 6))
save("b.csv", np.full(8, 3.0 / 8))
# Queries and keys with d = 4: the one-sided problem with -<q, k> and epsilon = sqrt(4) = 2
# is softmax(Q K^T / 2), scaled-dot-product attention.
save("q.csv", rng.normal(size=(3, 4)))
save("k.csv", rng.normal(size=(5, 4)))
# A batch: 4 clouds of 6 points (4 x 6 x 2), each solved against y.csv by one `eot solve`.
np.save(os.path.join(here, "clouds.npy"), rng.normal(size=(4, 6, 2)) * 0.3)
