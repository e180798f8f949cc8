"""POT-compatible functions: POT's names, arguments and defaults, POT's results.

The problem is eot's (docs/conventions.md); what differs from POT's convention is converted
here, and "POT compatibility" in docs/conventions.md says how.
"""

import warnings

import numpy as np

from . import _eot

_METHODS = ("sinkhorn", "sinkhorn_log", "sinkhorn_stabilized")
_UNBALANCED_METHODS = ("sinkhorn", "sinkhorn_stabilized", "sinkhorn_reg_scaling")


def _inputs(a, b, M):
    """POT's inputs as arrays: a or b empty or None means uniform; float32 M stays float32."""
    M = np.asarray(M)
    if M.ndim != 2:
        raise ValueError(f"M must be a matrix; it has {M.ndim} dimensions")
    precision = "float" if M.dtype == np.float32 else "double"
    dtype = np.float32 if precision == "float" else np.float64
    M = np.ascontiguousarray(M, dtype=dtype)
    a = np.full(M.shape[0], 1.0 / M.shape[0]) if a is None or len(a) == 0 else a
    b = np.full(M.shape[1], 1.0 / M.shape[1]) if b is None or len(b) == 0 else b
    a = np.ascontiguousarray(a, dtype=dtype)
    b = np.ascontiguousarray(b, dtype=dtype)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("a and b must be vectors (several histograms b are not supported)")
    return a, b, M, precision


def _check(method, numItermax, stopThr, methods=_METHODS):
    if method.lower() not in methods:
        raise ValueError(f"Unknown method '{method}'.")
    if stopThr <= 0:
        raise ValueError(f"stopThr is {stopThr}; it must be positive")
    return int(numItermax)


def _solve(M, a, b, reg, precision, stopThr, numItermax, verbose, warn, rho=np.inf):
    """eot's solve with POT's stopping arguments, report (verbose) and warning: the result and
    the plan."""
    result = _eot.solve(M, a=a, b=b, epsilon=reg, rho_a=rho, rho_b=rho, precision=precision,
                        tolerance=stopThr, max_iterations=numItermax)
    if verbose:
        print(result.report())
    if warn and not result.converged:
        warnings.warn(
            f"Sinkhorn did not converge ({result.status}: {result.message}). You might want to "
            "increase the number of iterations `numItermax` or the regularization parameter "
            "`reg`.",
            stacklevel=3,
        )
    return result, result.plan()


def sinkhorn(a, b, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, verbose=False,
             log=False, warn=True, **kwargs):
    """POT's ot.sinkhorn: the entropic OT plan of min <P, M> - reg H(P), P 1 = a, P^T 1 = b.

    The same plan as eot.solve(M, a=a, b=b, epsilon=reg): the entropy terms differ by a
    constant on the feasible set. stopThr is eot's tolerance on the marginal error (relative to
    the mass), numItermax its iteration budget; every method name POT accepts solves the same
    problem. With log=True also returns POT's log: err (the marginal error at each check),
    niter, u and v (P = diag(u) exp(-M / reg) diag(v)), log_u and log_v.
    """
    a, b, M, precision = _inputs(a, b, M)
    result, plan = _solve(M, a, b, reg, precision, stopThr,
                          _check(method, numItermax, stopThr), verbose, warn)
    if not log:
        return plan
    # eot's plan is a_i b_j exp((f_i + g_j - M_ij) / reg).
    with np.errstate(divide="ignore"):
        log_u = np.log(a.astype(np.float64)) + result.f / reg
        log_v = np.log(b.astype(np.float64)) + result.g / reg
    return plan, {
        "err": [check["marginal_error"] for check in result.history],
        "niter": result.iterations,
        "log_u": log_u,
        "log_v": log_v,
        "u": np.exp(log_u),
        "v": np.exp(log_v),
    }


def sinkhorn2(a, b, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, verbose=False,
              log=False, warn=True, **kwargs):
    """POT's ot.sinkhorn2: <P, M> at the plan of sinkhorn() (POT's loss: no entropy term)."""
    out = sinkhorn(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, **kwargs)
    plan, log_dict = out if log else (out, None)
    value = float(np.sum(np.asarray(M, dtype=np.float64) * plan))
    return (value, log_dict) if log else value


def _emd(a, b, M, center_dual):
    a, b, M, _ = _inputs(a, b, M)
    result = _eot.exact(np.asarray(M, dtype=np.float64), a=a.astype(np.float64),
                        b=b.astype(np.float64))
    u, v = result.f, result.g
    if center_dual:
        # POT's centering: shift the potentials (f - s, g + s) so that <a, u> = <b, v>.
        shift = (a @ u - b @ v) / (a.sum() + b.sum())
        u, v = u - shift, v + shift
    return result, u, v


def emd(a, b, M, numItermax=100000, log=False, center_dual=True, numThreads=1):
    """POT's ot.emd: the exact (epsilon = 0) OT plan, by a network simplex.

    numItermax and numThreads are accepted for compatibility; the network simplex runs to the
    optimum. With log=True also returns POT's log: cost, u, v (dual potentials), warning
    (None) and result_code (1: optimal).
    """
    result, u, v = _emd(a, b, M, center_dual)
    plan = result.plan.astype(np.asarray(M).dtype if np.asarray(M).dtype == np.float32 else np.float64)
    if not log:
        return plan
    return plan, {"cost": result.cost, "u": u, "v": v, "warning": None, "result_code": 1}


def emd2(a, b, M, processes=1, numItermax=100000, log=False, return_matrix=False,
         center_dual=True, numThreads=1):
    """POT's ot.emd2: the exact OT cost <P, M> (with log=True, POT's log; return_matrix adds
    the plan to it as log['G'])."""
    result, u, v = _emd(a, b, M, center_dual)
    if not log and not return_matrix:
        return result.cost
    log_dict = {"cost": result.cost, "u": u, "v": v, "warning": None, "result_code": 1}
    if return_matrix:
        log_dict["G"] = result.plan
    return result.cost, log_dict
