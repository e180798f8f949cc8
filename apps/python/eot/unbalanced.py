"""POT-compatible unbalanced OT: ot.unbalanced's names, arguments and results."""

import numpy as np

from ._pot import _UNBALANCED_METHODS, _check, _inputs, _solve


def sinkhorn_unbalanced(a, b, M, reg, reg_m, method="sinkhorn", numItermax=1000, stopThr=1e-6,
                        verbose=False, log=False, **kwargs):
    """POT's ot.unbalanced.sinkhorn_unbalanced: the plan of

        min over P >= 0 of <P, M> + reg sum P log P + reg_m KL(P 1 | a) + reg_m KL(P^T 1 | b)

    POT's entropy is taken against the counting measure, eot's against a b^T; the two problems
    have the same plan once eot's cost is M + reg (log a_i + log b_j) (docs/conventions.md, "POT
    compatibility"). stopThr is eot's tolerance on the marginal error (relative to the aimed
    mass), numItermax its budget. With log=True also returns POT's log: err, logu and logv
    (P = diag(exp(logu)) exp(-M / reg) diag(exp(logv))).
    """
    a, b, M, precision = _inputs(a, b, M)
    if not (np.isscalar(reg_m) and reg_m > 0):
        raise ValueError(f"reg_m is {reg_m}; it must be one positive number (both sides)")
    dtype = M.dtype
    with np.errstate(divide="ignore"):
        shift = reg * (np.log(a.astype(np.float64))[:, None] + np.log(b.astype(np.float64))[None, :])
    # A zero weight empties its row or column whatever its cost: keep M there.
    cost = np.where(np.isfinite(shift), M + shift, M).astype(dtype)
    result, plan = _solve(cost, a, b, reg, precision, stopThr,
                          _check(method, numItermax, stopThr, _UNBALANCED_METHODS), verbose,
                          True, rho=reg_m)
    if not log:
        return plan
    # eot's plan is a_i b_j exp((f_i + g_j - cost_ij) / reg) = exp((f_i + g_j - M_ij) / reg).
    return plan, {
        "err": [check["marginal_error"] for check in result.history],
        "logu": result.f / reg,
        "logv": result.g / reg,
    }


def sinkhorn_unbalanced2(a, b, M, reg, reg_m, method="sinkhorn", numItermax=1000, stopThr=1e-6,
                         verbose=False, log=False, **kwargs):
    """POT's ot.unbalanced.sinkhorn_unbalanced2: <P, M> at the plan of sinkhorn_unbalanced()."""
    out = sinkhorn_unbalanced(a, b, M, reg, reg_m, method, numItermax, stopThr, verbose, log,
                              **kwargs)
    plan, log_dict = out if log else (out, None)
    value = float(np.sum(np.asarray(M, dtype=np.float64) * plan))
    return (value, log_dict) if log else value
