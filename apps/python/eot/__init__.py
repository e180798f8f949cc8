"""eot: entropic optimal transport, from NumPy.

    import numpy as np, eot
    x, y = np.random.rand(100, 2), np.random.rand(80, 2)
    result = eot.solve(x=x, y=y, epsilon=0.01)      # balanced, uniform weights
    print(result.status, result.iterations, result.transport_cost)
    P = result.plan()

The problem and its conventions are the library's (docs/conventions.md): minimize
<P, C> + epsilon KL(P | a b^T) + marginal penalties rho_a, rho_b (inf: a hard constraint,
0: a free side). eot.sinkhorn, eot.sinkhorn2, eot.emd, eot.emd2 and eot.unbalanced take POT's
arguments and return POT's values. docs/python.md has examples and their output.
"""

from ._eot import (
    BarycenterResult,
    DivergenceResult,
    ExactResult,
    METRICS,
    Result,
    __version__,
    attention,
    attention_backward,
    barycenter,
    divergence,
    exact,
    instruction_set,
    solve,
    solve_batched,
)
from ._pot import emd, emd2, sinkhorn, sinkhorn2
from . import unbalanced

__all__ = [
    "BarycenterResult",
    "DivergenceResult",
    "ExactResult",
    "METRICS",
    "Result",
    "attention",
    "attention_backward",
    "barycenter",
    "divergence",
    "emd",
    "emd2",
    "exact",
    "instruction_set",
    "sinkhorn",
    "sinkhorn2",
    "solve",
    "solve_batched",
    "unbalanced",
]
