# Type stubs for the eot package (the compiled core is eot._eot).
from typing import Any, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

from . import unbalanced as unbalanced

__version__: str
METRICS: Tuple[str, ...]  # the point-cloud metrics, e.g. "sqeuclidean"
ArrayLike = npt.ArrayLike
Precision = Literal["double", "float"]

class Result:
    status: str  # "converged", "max_iterations", "numerical_failure", "stalled", ...
    converged: bool
    message: str
    iterations: int
    epsilon: float
    transport_cost: float
    primal: float
    dual: float
    gap: float
    entropy: float
    mass: float
    marginal_error: float
    solve_time_seconds: float
    n: int
    m: int
    rho_a: float
    rho_b: float
    regime: str
    geometry: str
    precision: str
    tolerance: float
    stages: int
    newton_steps: int
    omega: float
    domain: str
    absorptions: int
    kernel_bytes: float
    ranks: int
    f: np.ndarray
    g: np.ndarray
    row_marginal: np.ndarray
    col_marginal: np.ndarray
    history: list[dict[str, float]]
    version: str
    def plan(self, threads: int = 0) -> np.ndarray: ...
    def report(self) -> str: ...

class DivergenceResult:
    divergence: float
    ot_xy: float
    ot_xx: float
    ot_yy: float
    status: str
    message: str
    iterations: int
    solve_time_seconds: float
    grad_a: np.ndarray
    grad_b: np.ndarray
    grad_x: np.ndarray
    grad_y: np.ndarray

class BarycenterResult:
    barycenter: np.ndarray
    status: str
    message: str
    iterations: int
    marginal_error: float
    solve_time_seconds: float

class ExactResult:
    cost: float
    plan: np.ndarray
    f: np.ndarray
    g: np.ndarray
    dual: float

def solve(cost: Optional[ArrayLike] = None, *, x: Optional[ArrayLike] = None,
          y: Optional[ArrayLike] = None, metric: str = "sqeuclidean",
          a: Optional[ArrayLike] = None, b: Optional[ArrayLike] = None, epsilon: float,
          rho_a: float = ..., rho_b: float = ..., precision: Precision = "double",
          tolerance: Optional[float] = None, max_iterations: int = 10000, threads: int = 0,
          check_every: int = 10, domain: str = "auto", newton: str = "auto",
          epsilon_scaling: bool = False, memory_limit: int = 0,
          initial_f: Optional[ArrayLike] = None,
          initial_g: Optional[ArrayLike] = None) -> Result: ...
def solve_batched(cost: Optional[ArrayLike] = None, *, x: Optional[ArrayLike] = None,
                  y: Optional[ArrayLike] = None, metric: str = "sqeuclidean",
                  a: Optional[ArrayLike] = None, b: Optional[ArrayLike] = None, epsilon: float,
                  rho_a: float = ..., rho_b: float = ..., precision: Precision = "double",
                  tolerance: Optional[float] = None, max_iterations: int = 10000,
                  threads: int = 0, check_every: int = 10, domain: str = "auto",
                  newton: str = "auto", epsilon_scaling: bool = False, memory_limit: int = 0,
                  initial_f: Optional[ArrayLike] = None,
                  initial_g: Optional[ArrayLike] = None) -> list[Result]: ...
def divergence(x: ArrayLike, y: ArrayLike, *, a: Optional[ArrayLike] = None,
               b: Optional[ArrayLike] = None, epsilon: float, metric: str = "sqeuclidean",
               rho: float = ..., precision: Precision = "double",
               tolerance: Optional[float] = None, max_iterations: int = 10000, threads: int = 0,
               check_every: int = 10, domain: str = "auto", newton: str = "auto",
               epsilon_scaling: bool = False, memory_limit: int = 0,
               initial_f: Optional[ArrayLike] = None,
               initial_g: Optional[ArrayLike] = None) -> DivergenceResult: ...
def barycenter(measures: ArrayLike, cost: ArrayLike, *, weights: Optional[ArrayLike] = None,
               epsilon: float, debiased: bool = False, precision: Precision = "double",
               tolerance: Optional[float] = None, max_iterations: int = 10000, threads: int = 0,
               check_every: int = 10, domain: str = "auto", newton: str = "auto",
               epsilon_scaling: bool = False, memory_limit: int = 0,
               initial_f: Optional[ArrayLike] = None,
               initial_g: Optional[ArrayLike] = None) -> BarycenterResult: ...
def exact(cost: Optional[ArrayLike] = None, *, x: Optional[ArrayLike] = None,
          y: Optional[ArrayLike] = None, metric: str = "sqeuclidean",
          a: Optional[ArrayLike] = None, b: Optional[ArrayLike] = None,
          memory_limit: int = 0) -> ExactResult: ...
def attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, epsilon: Optional[float] = None,
              causal: bool = False, bias: Optional[ArrayLike] = None, two_sided: bool = False,
              iterations: int = 0, regularizer: str = "softmax",
              threads: int = 0) -> np.ndarray: ...
def attention_backward(q: ArrayLike, k: ArrayLike, v: ArrayLike, grad_output: ArrayLike, *,
                       epsilon: Optional[float] = None, causal: bool = False,
                       bias: Optional[ArrayLike] = None, regularizer: str = "softmax",
                       threads: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def instruction_set() -> str: ...

# POT-compatible (eot/_pot.py).
@overload
def sinkhorn(a: ArrayLike, b: ArrayLike, M: ArrayLike, reg: float, method: str = ...,
             numItermax: int = ..., stopThr: float = ..., verbose: bool = ...,
             log: Literal[False] = ..., warn: bool = ..., **kwargs: Any) -> np.ndarray: ...
@overload
def sinkhorn(a: ArrayLike, b: ArrayLike, M: ArrayLike, reg: float, method: str = ...,
             numItermax: int = ..., stopThr: float = ..., verbose: bool = ...,
             log: Literal[True] = ..., warn: bool = ...,
             **kwargs: Any) -> Tuple[np.ndarray, dict[str, Any]]: ...
def sinkhorn2(a: ArrayLike, b: ArrayLike, M: ArrayLike, reg: float, method: str = ...,
              numItermax: int = ..., stopThr: float = ..., verbose: bool = ..., log: bool = ...,
              warn: bool = ...,
              **kwargs: Any) -> Union[float, Tuple[float, dict[str, Any]]]: ...
def emd(a: ArrayLike, b: ArrayLike, M: ArrayLike, numItermax: int = ..., log: bool = ...,
        center_dual: bool = ...,
        numThreads: int = ...) -> Union[np.ndarray, Tuple[np.ndarray, dict[str, Any]]]: ...
def emd2(a: ArrayLike, b: ArrayLike, M: ArrayLike, processes: int = ..., numItermax: int = ...,
         log: bool = ..., return_matrix: bool = ..., center_dual: bool = ...,
         numThreads: int = ...) -> Union[float, Tuple[float, dict[str, Any]]]: ...
