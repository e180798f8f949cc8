# The eot package comes from the build folder: ctest sets PYTHONPATH=<build>/python.
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20261202)


def clouds(rng, n=30, m=20, d=2):
    """Two point clouds and their squared-Euclidean costs."""
    x, y = rng.random((n, d)), rng.random((m, d))
    return x, y, ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def weights(rng, n):
    w = rng.random(n) + 0.1
    return w / w.sum()
