"""eot.attention and eot.attention_backward against a float64 NumPy reference (the formulas
PyTorch's scaled_dot_product_attention computes), with PyTorch's shapes and mask rules."""

import numpy as np
import pytest

import eot


def reference(q, k, v, epsilon=None, causal=False, bias=None):
    """softmax(Q K^T / epsilon + bias) V, and the weights."""
    epsilon = np.sqrt(q.shape[-1]) if epsilon is None else epsilon
    s = q @ np.swapaxes(k, -1, -2) / epsilon
    if bias is not None:
        s = s + bias
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return p @ v, p


def reference_backward(q, k, v, dout, epsilon=None, causal=False, bias=None):
    epsilon = np.sqrt(q.shape[-1]) if epsilon is None else epsilon
    _, p = reference(q, k, v, epsilon, causal, bias)
    dp = dout @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) / epsilon
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(p, -1, -2) @ dout


@pytest.fixture
def qkv(rng):
    shape = (2, 3)  # batch, heads
    return (rng.standard_normal(shape + (7, 8)), rng.standard_normal(shape + (9, 8)),
            rng.standard_normal(shape + (9, 5)))


def test_forward_matches_the_reference_for_any_leading_dimensions(qkv):
    q, k, v = qkv
    np.testing.assert_allclose(eot.attention(q, k, v), reference(q, k, v)[0], atol=1e-12)
    np.testing.assert_allclose(eot.attention(q[0, 0], k[0, 0], v[0, 0]),
                               reference(q[0, 0], k[0, 0], v[0, 0])[0], atol=1e-12)
    assert eot.attention(q, k, v).shape == (2, 3, 7, 5)


def test_causal_bias_and_boolean_masks_follow_pytorch(qkv, rng):
    q, k, v = qkv
    bias = rng.standard_normal((7, 9))
    np.testing.assert_allclose(eot.attention(q, k, v, causal=True, epsilon=1.5),
                               reference(q, k, v, 1.5, causal=True)[0], atol=1e-12)
    np.testing.assert_allclose(eot.attention(q, k, v, bias=bias),
                               reference(q, k, v, bias=bias)[0], atol=1e-12)
    allowed = rng.random((7, 9)) < 0.7
    allowed[:, 0] = True
    np.testing.assert_allclose(eot.attention(q, k, v, bias=allowed),
                               reference(q, k, v, bias=np.where(allowed, 0, -np.inf))[0],
                               atol=1e-12)


def test_backward_matches_the_reference_and_finite_differences(qkv, rng):
    q, k, v = qkv
    dout = rng.standard_normal((2, 3, 7, 5))
    for causal in (False, True):
        got = eot.attention_backward(q, k, v, dout, causal=causal)
        for mine, expected in zip(got, reference_backward(q, k, v, dout, causal=causal)):
            np.testing.assert_allclose(mine, expected, atol=1e-12)
    # One entry of dQ by central differences of the loss <dO, O>.
    dq = eot.attention_backward(q, k, v, dout)[0]
    h = 1e-6
    shifted = [q.copy(), q.copy()]
    shifted[0][1, 2, 3, 4] += h
    shifted[1][1, 2, 3, 4] -= h
    loss = [(dout * eot.attention(s, k, v)).sum() for s in shifted]
    assert (loss[0] - loss[1]) / (2 * h) == pytest.approx(dq[1, 2, 3, 4], abs=1e-8)


def test_float32_inputs_compute_in_float(qkv):
    q, k, v = (t.astype(np.float32) for t in qkv)
    out = eot.attention(q, k, v)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference(*(t.astype(np.float64) for t in (q, k, v)))[0],
                               atol=1e-5)


def test_two_sided_and_sparse_variants(qkv):
    q, k, v = (t[0, 0] for t in qkv)
    # One normalization is SDPA exactly; to convergence the columns sum to n / m.
    np.testing.assert_allclose(eot.attention(q, k, v, two_sided=True, iterations=1),
                               reference(q, k, v)[0], atol=1e-12)
    out = eot.attention(q, k, v, two_sided=True)
    assert out.shape == (7, 5)
    sparse = eot.attention(q, k, v, regularizer="sparsemax", epsilon=0.5)
    assert sparse.shape == (7, 5) and np.isfinite(sparse).all()
    with pytest.raises(ValueError, match="two_sided needs"):
        eot.attention(q, k, v, two_sided=True, regularizer="entmax15")


def test_bad_shapes_are_refused(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="leading"):
        eot.attention(q, k[:1], v[:1])
    with pytest.raises(ValueError, match="d = 8"):
        eot.attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="one value per key"):
        eot.attention(q, k, v[..., :3, :])
    with pytest.raises(ValueError, match="bias is"):
        eot.attention(q, k, v, bias=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="epsilon"):
        eot.attention(q, k, v, epsilon=-1)
    with pytest.raises(ValueError, match="regularizer"):
        eot.attention(q, k, v, regularizer="argmax")
