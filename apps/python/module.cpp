// The Python module's compiled core, eot._eot: a front end like the command line. It turns
// NumPy arrays into the library's problems (borrowing a C-contiguous cost of the solve's
// precision, copying nothing), releases the GIL while the library works, turns Ctrl-C into the
// solvers' interrupt flag and the library's InvalidArgument into ValueError. Everything a user
// calls is documented in eot/__init__.py and eot/__init__.pyi; the POT-compatible functions
// are Python (eot/_pot.py), on top of these.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eot/eot.hpp"

namespace py = pybind11;

namespace eot::python {

namespace {

// ---------------------------------------------------------------------------------------------
// Ctrl-C. Python's own SIGINT handler only sets a flag that the interpreter reads between
// bytecodes, never while the library works with the GIL released. So a call from the main
// thread puts its own handler in place for its duration: SIGINT sets the flag the solvers watch
// (SolverOptions::interrupt; a pass stops within a block of rows), and the call raises
// KeyboardInterrupt once Python's handler is back. Calls from other threads leave the handlers
// alone (Python delivers SIGINT to the main thread only).

std::atomic<bool> interrupted{false};
unsigned long main_thread = 0;  // threading.main_thread().ident, read at import

extern "C" void on_sigint(int) {
  interrupted.store(true, std::memory_order_relaxed);
}

class InterruptScope {
 public:
  InterruptScope() {
    if (PyThread_get_thread_ident() != main_thread) return;
    interrupted.store(false);
    struct sigaction action = {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    installed_ = sigaction(SIGINT, &action, &previous_) == 0;
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  ~InterruptScope() { restore(); }

  const std::atomic<bool>* flag() const { return installed_ ? &interrupted : nullptr; }
  // Call with the GIL held once the work is done: raises KeyboardInterrupt if SIGINT came.
  void raise_if_interrupted() {
    restore();
    if (interrupted.exchange(false)) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
      throw py::error_already_set();
    }
  }

 private:
  void restore() {
    if (installed_) sigaction(SIGINT, &previous_, nullptr);
    installed_ = false;
  }
  struct sigaction previous_ = {};
  bool installed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Arrays in.

// `object` as a C-contiguous array of T (no copy if it already is one), or ValueError naming
// `name`.
template <typename T>
py::array_t<T, py::array::c_style> as_array(const py::handle& object, const char* name) {
  auto array = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(object);
  if (!array) {
    PyErr_Clear();
    throw py::value_error(std::string(name) + ": not an array of numbers");
  }
  return array;
}

template <typename T>
py::array_t<T, py::array::c_style> as_array(const py::handle& object, const char* name,
                                            int min_ndim, int max_ndim) {
  auto array = as_array<T>(object, name);
  if (array.ndim() < min_ndim || array.ndim() > max_ndim) {
    throw py::value_error(
        std::string(name) + " has " + std::to_string(array.ndim()) + " dimensions; expected " +
        (min_ndim == max_ndim ? std::to_string(min_ndim)
                              : std::to_string(min_ndim) + " to " + std::to_string(max_ndim)));
  }
  return array;
}

// Holds a Python object for as long as a geometry borrows its memory; released with the GIL.
std::shared_ptr<const void> hold(py::object object) {
  return std::shared_ptr<const void>(new py::object(std::move(object)), [](const void* held) {
    py::gil_scoped_acquire gil;
    delete static_cast<const py::object*>(held);
  });
}

// Rows [first, first + rows) of a C-contiguous array viewed as a matrix with `cols` columns.
template <typename T>
Matrix<T> rows_of(const py::array_t<T, py::array::c_style>& array, Index first, Index rows,
                  Index cols) {
  return Eigen::Map<const Matrix<T>>(array.data() + first * cols, rows, cols);
}

template <typename T>
Matrix<T> matrix(const py::handle& object, const char* name) {
  const auto array = as_array<T>(object, name, 2, 2);
  return rows_of(array, 0, array.shape(0), array.shape(1));
}

// ---------------------------------------------------------------------------------------------
// Problems in, results out.

struct Inputs {
  py::object cost, x, y, a, b;
  std::string metric;
  double epsilon, rho_a, rho_b;
};

// The geometries of one problem (2-D cost or points) or of a batch (3-D cost, or 3-D points
// beside 2-D ones shared by every problem).
template <typename T>
std::vector<std::shared_ptr<const Geometry<T>>> geometries(const Inputs& in, bool batch) {
  const int ndim = batch ? 3 : 2;
  std::vector<std::shared_ptr<const Geometry<T>>> out;
  if (!in.cost.is_none()) {
    if (!in.x.is_none() || !in.y.is_none()) {
      throw py::value_error("give either cost or the points x and y, not both");
    }
    const auto cost = as_array<T>(in.cost, "cost", ndim, ndim);
    const Index layers = batch ? cost.shape(0) : 1, n = cost.shape(ndim - 2),
                m = cost.shape(ndim - 1);
    const std::shared_ptr<const void> owner = hold(cost);
    for (Index k = 0; k < layers; ++k) {
      try {
        out.push_back(std::make_shared<CostMatrix<T>>(cost.data() + k * n * m, n, m, owner));
      } catch (const InvalidArgument& e) {
        if (!batch) throw;
        throw InvalidArgument("problem " + std::to_string(k) + ": " + e.what(), e.field(),
                              e.index());
      }
    }
    return out;
  }
  if (in.x.is_none() || in.y.is_none()) {
    throw py::value_error("give the costs (cost) or both point clouds (x and y)");
  }
  const Metric metric = metric_from_string(in.metric);
  const auto x = as_array<T>(in.x, "x", 2, ndim), y = as_array<T>(in.y, "y", 2, ndim);
  Index layers = 1;
  for (const auto* points : {&x, &y}) {
    if (points->ndim() == 3) {
      if (layers > 1 && points->shape(0) != layers) {
        throw py::value_error("x and y hold " + std::to_string(x.shape(0)) + " and " +
                              std::to_string(y.shape(0)) + " problems");
      }
      layers = points->shape(0);
    }
  }
  auto layer = [](const py::array_t<T, py::array::c_style>& points, Index k) {
    const Index rows = points.shape(points.ndim() - 2), d = points.shape(points.ndim() - 1);
    return rows_of(points, points.ndim() == 3 ? k * rows : 0, rows, d);
  };
  for (Index k = 0; k < layers; ++k) {
    out.push_back(std::make_shared<PointCloud<T>>(layer(x, k), layer(y, k), metric));
  }
  return out;
}

// Weights of problem k: uniform (None), shared (1-D) or one row per problem (2-D).
template <typename T>
void set_weights(Vector<T>& weights, const py::object& object, const char* name, Index k,
                 Index count) {
  if (object.is_none()) return;
  const auto array = as_array<T>(object, name, 1, count > 0 ? 2 : 1);
  if (array.ndim() == 2 && array.shape(0) != count) {
    throw py::value_error(std::string(name) + " has " + std::to_string(array.shape(0)) +
                          " rows but there are " + std::to_string(count) + " problems");
  }
  const Index size = array.shape(array.ndim() - 1);
  weights = Eigen::Map<const Vector<T>>(array.data() + (array.ndim() == 2 ? k * size : 0), size);
}

template <typename T>
std::vector<Problem<T>> problems(const Inputs& in, bool batch) {
  std::vector<Problem<T>> out;
  const auto shapes = geometries<T>(in, batch);
  const Index count = batch ? Index(shapes.size()) : 0;
  for (Index k = 0; k < Index(shapes.size()); ++k) {
    Problem<T> problem(shapes[k], in.epsilon);
    set_weights(problem.a, in.a, "a", k, count);
    set_weights(problem.b, in.b, "b", k, count);
    problem.rho_a = in.rho_a;
    problem.rho_b = in.rho_b;
    out.push_back(std::move(problem));
  }
  return out;
}

// A result, and the problem it came from, for plan().
struct PyResult : Result {
  std::function<py::array(const Result&, int)> plan;
};

template <typename T>
PyResult with_plan(Result result, const Problem<T>& problem) {
  PyResult out{std::move(result), {}};
  out.plan = [problem](const Result& r, int threads) -> py::array {
    if (r.f.size() != problem.n() || r.g.size() != problem.m()) {
      throw py::value_error("no plan: the solve ended before its potentials were complete");
    }
    Matrix<T> plan;
    {
      py::gil_scoped_release release;
      plan = problem.plan(r.f, r.g, threads);
    }
    if (!plan.allFinite()) {
      throw py::value_error(std::string("the plan overflows at the returned potentials (") +
                            to_string(r.status) + ")");
    }
    return py::array_t<T>({plan.rows(), plan.cols()}, plan.data());
  };
  return out;
}

struct Options {
  std::optional<double> tolerance;
  int max_iterations, threads, check_every;
  std::string domain, newton;
  bool epsilon_scaling;
  std::uint64_t memory_limit;
  std::optional<Eigen::VectorXd> initial_f, initial_g;

  SolverOptions solver(const std::atomic<bool>* interrupt) const {
    SolverOptions options;
    options.tolerance = tolerance.value_or(0);
    options.max_iterations = max_iterations;
    options.threads = threads;
    options.check_every = check_every;
    options.domain = domain_from_string(domain);
    options.newton = newton_mode_from_string(newton);
    options.epsilon_scaling.enabled = epsilon_scaling;
    options.memory_limit = memory_limit;
    if (initial_f) options.initial_f = *initial_f;
    if (initial_g) options.initial_g = *initial_g;
    options.interrupt = interrupt;
    return options;
  }
};

bool is_float(const std::string& precision) {
  if (precision != "double" && precision != "float") {
    throw py::value_error("precision is '" + precision + "'; expected 'double' or 'float'");
  }
  return precision == "float";
}

template <typename T>
std::vector<PyResult> solve_all(const Inputs& in, const Options& opts, bool batch) {
  const std::vector<Problem<T>> list = problems<T>(in, batch);
  InterruptScope scope;
  const SolverOptions options = opts.solver(scope.flag());
  std::vector<Result> results;
  {
    py::gil_scoped_release release;
    if (batch) {
      results = solve_batched(list, options);
    } else {
      results.push_back(solve(list[0], options));
    }
  }
  scope.raise_if_interrupted();
  std::vector<PyResult> out;
  for (std::size_t k = 0; k < list.size(); ++k) out.push_back(with_plan(results[k], list[k]));
  return out;
}

std::vector<PyResult> solve_any(const Inputs& in, const Options& opts, const std::string& precision,
                                bool batch) {
  return is_float(precision) ? solve_all<float>(in, opts, batch)
                             : solve_all<double>(in, opts, batch);
}

// ---------------------------------------------------------------------------------------------
// Divergence, barycenter, exact OT.

template <typename T>
DivergenceResult divergence(const Inputs& in, double rho, const Options& opts) {
  const Matrix<T> x = matrix<T>(in.x, "x"), y = matrix<T>(in.y, "y");
  Vector<T> a = Vector<T>::Constant(x.rows(), T(1) / T(x.rows()));
  Vector<T> b = Vector<T>::Constant(y.rows(), T(1) / T(y.rows()));
  set_weights(a, in.a, "a", 0, 0);
  set_weights(b, in.b, "b", 0, 0);
  const Metric metric = metric_from_string(in.metric);
  InterruptScope scope;
  const SolverOptions options = opts.solver(scope.flag());
  DivergenceResult out;
  {
    py::gil_scoped_release release;
    out = sinkhorn_divergence(x, y, metric, a, b, in.epsilon, rho, options);
  }
  scope.raise_if_interrupted();
  return out;
}

template <typename T>
BarycenterResult barycenter(const py::object& measures, const py::object& cost,
                            const py::object& weights, double epsilon, bool debiased,
                            const Options& opts) {
  const Matrix<T> histograms = matrix<T>(measures, "measures");
  Inputs in{cost, py::none(), py::none(), py::none(), py::none(), "", epsilon, kInf, kInf};
  const auto geometry = geometries<T>(in, false)[0];
  Eigen::VectorXd lambdas;
  if (!weights.is_none()) {
    const auto w = as_array<double>(weights, "weights", 1, 1);
    lambdas = Eigen::Map<const Eigen::VectorXd>(w.data(), w.shape(0));
  }
  InterruptScope scope;
  const SolverOptions options = opts.solver(scope.flag());
  BarycenterResult out;
  {
    py::gil_scoped_release release;
    out = eot::barycenter(geometry, histograms, lambdas, epsilon, options, debiased);
  }
  scope.raise_if_interrupted();
  return out;
}

ExactResult exact(const Inputs& in, std::uint64_t memory_limit) {
  const Problem<double> problem = problems<double>(in, false)[0];
  InterruptScope scope;  // the network simplex does not stop early: Ctrl-C raises at its end
  ExactResult out;
  {
    py::gil_scoped_release release;
    out = exact_ot(problem, memory_limit);
  }
  scope.raise_if_interrupted();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Attention, with PyTorch's shapes: q (..., L, d), k (..., S, d), v (..., S, dv), the leading
// dimensions (batch, heads) the same for all three.

struct Heads {
  std::vector<py::ssize_t> leading;  // the leading dimensions
  Index count = 1;                   // their product
};

template <typename T>
struct AttentionInputs {
  Matrix<T> q, k, v;  // (count * L) x d and so on
  Heads heads;
  Index n = 0, m = 0;  // L and S
  attention::Mask<T> mask;
  double epsilon = 0;
};

template <typename T>
Matrix<T> stacked(const py::array_t<T, py::array::c_style>& array) {
  const Index cols = array.ndim() ? array.shape(array.ndim() - 1) : 0;
  return rows_of(array, 0, cols ? Index(array.size()) / cols : 0, cols);
}

template <typename T>
AttentionInputs<T> attention_inputs(const py::object& q_object, const py::object& k_object,
                                    const py::object& v_object, std::optional<double> epsilon,
                                    bool causal, const py::object& bias) {
  const auto q = as_array<T>(q_object, "q", 2, 32), k = as_array<T>(k_object, "k", 2, 32),
             v = as_array<T>(v_object, "v", 2, 32);
  AttentionInputs<T> in;
  const int lead = int(q.ndim()) - 2;
  for (const auto& [name, array] : {std::pair{"k", &k}, std::pair{"v", &v}}) {
    bool same = array->ndim() == q.ndim();
    for (int i = 0; same && i < lead; ++i) same = array->shape(i) == q.shape(i);
    if (!same) {
      throw py::value_error(std::string(name) +
                            " must have the leading (batch, head) dimensions of q");
    }
  }
  for (int i = 0; i < lead; ++i) {
    in.heads.leading.push_back(q.shape(i));
    in.heads.count *= q.shape(i);
  }
  in.n = q.shape(lead);
  in.m = k.shape(lead);
  if (k.shape(lead + 1) != q.shape(lead + 1)) {
    throw py::value_error("q has d = " + std::to_string(q.shape(lead + 1)) + " but k has " +
                          std::to_string(k.shape(lead + 1)));
  }
  if (v.shape(lead) != in.m) {
    throw py::value_error("v has " + std::to_string(v.shape(lead)) + " rows but k has " +
                          std::to_string(in.m) + " (one value per key)");
  }
  in.q = stacked(q);
  in.k = stacked(k);
  in.v = stacked(v);
  if (epsilon && !(*epsilon > 0 && std::isfinite(*epsilon))) {
    throw py::value_error("epsilon is " + std::to_string(*epsilon) +
                          ": it must be positive and finite (None: sqrt(d))");
  }
  in.epsilon = epsilon.value_or(0);
  in.mask.causal = causal;
  if (!bias.is_none()) {
    // A boolean mask as PyTorch's attn_mask: True takes part, False is masked (-inf).
    const auto array = py::array::ensure(bias);
    if (array && array.dtype().kind() == 'b') {
      const auto allowed =
          py::array_t<bool, py::array::c_style | py::array::forcecast>::ensure(bias);
      if (allowed.ndim() != 2) throw py::value_error("bias must be L x S");
      in.mask.bias = Matrix<T>(allowed.shape(0), allowed.shape(1));
      for (Index i = 0; i < in.mask.bias.size(); ++i) {
        in.mask.bias.data()[i] = allowed.data()[i] ? T(0) : -std::numeric_limits<T>::infinity();
      }
    } else {
      in.mask.bias = matrix<T>(bias, "bias");
    }
    if (in.mask.bias.rows() != in.n || in.mask.bias.cols() != in.m) {
      throw py::value_error("bias is " + std::to_string(in.mask.bias.rows()) + " x " +
                            std::to_string(in.mask.bias.cols()) + " but the scores are L x S = " +
                            std::to_string(in.n) + " x " + std::to_string(in.m));
    }
  }
  return in;
}

// (count * rows) x cols back to (..., rows, cols).
template <typename T>
py::array_t<T> unstacked(const Matrix<T>& values, const Heads& heads, Index rows) {
  std::vector<py::ssize_t> shape = heads.leading;
  shape.push_back(rows);
  shape.push_back(values.cols());
  return py::array_t<T>(shape, values.data());
}

template <typename T>
py::array attention_forward(const py::object& q, const py::object& k, const py::object& v,
                            std::optional<double> epsilon, bool causal, const py::object& bias,
                            bool two_sided, int iterations, const std::string& regularizer_name,
                            int threads) {
  const AttentionInputs<T> in = attention_inputs<T>(q, k, v, epsilon, causal, bias);
  const auto regularizer = attention::regularizer_from_string(regularizer_name);
  if (two_sided && regularizer != attention::Regularizer::Softmax) {
    throw py::value_error("two_sided needs regularizer='softmax'");
  }
  Matrix<T> out;
  bool converged = true;
  {
    py::gil_scoped_release release;
    if (!two_sided && regularizer == attention::Regularizer::Softmax) {
      out = attention::forward_batched(in.q, in.k, in.v, in.heads.count, in.epsilon, in.mask,
                                       threads);
    } else {
      out.resize(in.heads.count * in.n, in.v.cols());
      for (Index h = 0; h < in.heads.count; ++h) {
        const Matrix<T> q_h = in.q.middleRows(h * in.n, in.n),
                        k_h = in.k.middleRows(h * in.m, in.m),
                        v_h = in.v.middleRows(h * in.m, in.m);
        if (two_sided) {
          const auto result =
              attention::sinkhorn(q_h, k_h, v_h, in.epsilon, in.mask, iterations, threads);
          out.middleRows(h * in.n, in.n) = result.output;
          converged = converged && (iterations > 0 || result.status == Status::Converged);
        } else {
          out.middleRows(h * in.n, in.n) =
              attention::weights(q_h, k_h, in.epsilon, in.mask, regularizer, threads) * v_h;
        }
      }
    }
  }
  if (!converged) {
    if (PyErr_WarnEx(PyExc_RuntimeWarning,
                     "two-sided attention: the column constraint did not converge", 1) != 0) {
      throw py::error_already_set();
    }
  }
  return unstacked(out, in.heads, in.n);
}

template <typename T>
py::tuple attention_backward(const py::object& q, const py::object& k, const py::object& v,
                             const py::object& grad_output, std::optional<double> epsilon,
                             bool causal, const py::object& bias,
                             const std::string& regularizer_name, int threads) {
  const AttentionInputs<T> in = attention_inputs<T>(q, k, v, epsilon, causal, bias);
  const auto regularizer = attention::regularizer_from_string(regularizer_name);
  const auto grad = as_array<T>(grad_output, "grad_output", 2, 32);
  const Matrix<T> dout = stacked(grad);
  if (dout.rows() != in.q.rows() || dout.cols() != in.v.cols()) {
    throw py::value_error("grad_output must have the output's shape (..., L, dv)");
  }
  attention::Gradients<T> g;
  {
    py::gil_scoped_release release;
    if (regularizer == attention::Regularizer::Softmax) {
      g = attention::backward_batched(in.q, in.k, in.v, dout, in.heads.count, in.epsilon, in.mask,
                                      threads);
    } else {
      g.dq.resize(in.q.rows(), in.q.cols());
      g.dk.resize(in.k.rows(), in.k.cols());
      g.dv.resize(in.v.rows(), in.v.cols());
      for (Index h = 0; h < in.heads.count; ++h) {
        const auto head =
            attention::backward<T>(in.q.middleRows(h * in.n, in.n), in.k.middleRows(h * in.m, in.m),
                                   in.v.middleRows(h * in.m, in.m), dout.middleRows(h * in.n, in.n),
                                   in.epsilon, in.mask, regularizer, threads);
        g.dq.middleRows(h * in.n, in.n) = head.dq;
        g.dk.middleRows(h * in.m, in.m) = head.dk;
        g.dv.middleRows(h * in.m, in.m) = head.dv;
      }
    }
  }
  return py::make_tuple(unstacked(g.dq, in.heads, in.n), unstacked(g.dk, in.heads, in.m),
                        unstacked(g.dv, in.heads, in.m));
}

// ---------------------------------------------------------------------------------------------
// Docstrings (help(eot.solve) and the like).

constexpr const char* kSolveDoc = R"(Solve one entropic OT problem (docs/conventions.md):

    minimize <P, C> + epsilon KL(P | a b^T) + rho_a KL(P 1 | a) + rho_b KL(P^T 1 | b)

cost: n x m costs (finite, or inf for a forbidden pair); or x (n x d) and y (m x d) with a
metric (one of eot.METRICS), never forming an n x m array. a, b: weights
(uniform, mass 1, if omitted). rho_a, rho_b: inf a hard constraint, 0 a free side, else a KL
penalty. precision: 'double' or 'float'. tolerance: on the marginal error relative to the
aimed mass (None: 1e-9 in double, 1e-5 in float). The other options are eot::SolverOptions'.

Returns a Result (attributes as the fields of `eot solve --json`; plan() forms the plan).
A C-contiguous cost of the solve's precision is borrowed, not copied. Raises ValueError on bad
input, KeyboardInterrupt on Ctrl-C.)";

constexpr const char* kSolveBatchedDoc = R"(Solve many problems with the same options.

cost: B x n x m; or x (B x n x d) and y (B x m x d), either 2-D if shared. a, b: 1-D (shared)
or one row per problem. Returns a list of B Results, each bitwise what solve() returns for its
problem alone; small problems are shared among the threads. Bad input raises ValueError
naming the problem ('problem k: ...').)";

constexpr const char* kDivergenceDoc = R"(The debiased Sinkhorn divergence between point clouds:

    S = OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2 + epsilon (m_a - m_b)^2 / 2

with OT the entropic problem's optimal value (both sides penalized by rho: inf balanced).
Returns a DivergenceResult: the divergence, its three values and the gradients in a, b, x and
y.)";

constexpr const char* kBarycenterDoc = R"(The fixed-support entropic barycenter of the rows of
measures (k x n histograms) for the costs (n x n), as POT's ot.bregman.barycenter: weights
(k, uniform if omitted), debiased=True for POT's barycenter_debiased. Returns a
BarycenterResult.)";

constexpr const char* kExactDoc = R"(Exact (epsilon = 0) optimal transport by a network simplex:
costs or point clouds as for solve(), weights with equal masses. Returns an ExactResult.)";

constexpr const char* kAttentionDoc =
    R"(Scaled-dot-product attention, softmax(q k^T / epsilon + bias) v:
the one-sided entropic OT problem with the cost -<q, k> (docs/sdpa-as-eot.md).

q (..., L, d), k (..., S, d), v (..., S, dv) with the same leading (batch, head) dimensions,
as PyTorch's scaled_dot_product_attention. epsilon: None for sqrt(d). causal: query i sees
keys j <= i (top-left aligned, PyTorch's is_causal). bias: L x S, added to the scaled scores,
or boolean (True takes part). two_sided: constrain the columns too (Sinkhorn attention;
iterations counts normalizations, 0 runs to convergence). regularizer: 'softmax', 'sparsemax'
or 'entmax15'. float32 inputs compute in float. Returns (..., L, dv).)";

constexpr const char* kAttentionBackwardDoc = R"(The gradients (dq, dk, dv) of attention() given
grad_output = dL/dO (..., L, dv), for the same arguments (two_sided excepted).)";

constexpr const char* kResultDoc = R"(How a solve ended and what it found. The attributes are named
as the fields of `eot solve --json`; f and g are the potentials (cost units), row_marginal and
col_marginal the plan's marginals. plan() forms the n x m plan, report() prints the command
line's report.)";

// ---------------------------------------------------------------------------------------------
// The module.

py::list history(const Result& r) {
  py::list out;
  for (const IterationInfo& check : r.history) {
    py::dict entry;
    for (const auto& [name, value] : history_entry(check))
      entry[name] = std::visit([](const auto& v) { return py::cast(v); }, value);
    out.append(entry);
  }
  return out;
}

// The solver's options as keyword arguments, shared by solve, solve_batched, divergence and
// barycenter (defaults as SolverOptions').
auto solver_arguments() {
  return std::make_tuple(py::arg("tolerance") = py::none(), py::arg("max_iterations") = 10000,
                         py::arg("threads") = 0, py::arg("check_every") = 10,
                         py::arg("domain") = "auto", py::arg("newton") = "auto",
                         py::arg("epsilon_scaling") = false, py::arg("memory_limit") = 0,
                         py::arg("initial_f") = py::none(), py::arg("initial_g") = py::none());
}

}  // namespace

}  // namespace eot::python

PYBIND11_MODULE(_eot, m) {
  using namespace eot;
  using namespace eot::python;
  namespace py = pybind11;
  m.doc() = "eot's compiled core; use the eot package";
  m.attr("__version__") = kVersion;
  m.attr("METRICS") = py::tuple(py::cast(names(kMetrics)));
  main_thread =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();

  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const IoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    }
  });

  py::class_<PyResult> result(m, "Result", kResultDoc);
  for (const ResultField& field : result_fields()) {
    result.def_property_readonly(field.name, [get = field.get](const PyResult& r) {
      return std::visit([](const auto& v) { return py::cast(v); }, get(r));
    });
  }
  result.def_property_readonly("converged", &PyResult::converged)
      .def_readonly("f", &PyResult::f)
      .def_readonly("g", &PyResult::g)
      .def_readonly("row_marginal", &PyResult::row_marginal)
      .def_readonly("col_marginal", &PyResult::col_marginal)
      .def_property_readonly("history", [](const PyResult& r) { return history(r); })
      .def_property_readonly("version", [](const PyResult&) { return kVersion; })
      .def(
          "plan", [](const PyResult& r, int threads) { return r.plan(r, threads); },
          py::arg("threads") = 0)
      .def("report", &PyResult::full_report)
      .def("__repr__", [](const PyResult& r) { return "<eot.Result: " + r.brief_report() + ">"; });

  py::class_<DivergenceResult>(m, "DivergenceResult",
                               "eot.divergence's answer: the divergence, its three entropic "
                               "values (ot_xy, ot_xx, ot_yy) and its gradients.")
      .def_readonly("divergence", &DivergenceResult::divergence)
      .def_readonly("ot_xy", &DivergenceResult::ot_xy)
      .def_readonly("ot_xx", &DivergenceResult::ot_xx)
      .def_readonly("ot_yy", &DivergenceResult::ot_yy)
      .def_property_readonly("status",
                             [](const DivergenceResult& r) { return to_string(r.status); })
      .def_readonly("message", &DivergenceResult::message)
      .def_readonly("iterations", &DivergenceResult::iterations)
      .def_readonly("solve_time_seconds", &DivergenceResult::solve_time_seconds)
      .def_readonly("grad_a", &DivergenceResult::grad_a)
      .def_readonly("grad_b", &DivergenceResult::grad_b)
      .def_readonly("grad_x", &DivergenceResult::grad_x)
      .def_readonly("grad_y", &DivergenceResult::grad_y)
      .def("__repr__", [](const DivergenceResult& r) {
        return "<eot.DivergenceResult " + std::string(to_string(r.status)) + ", divergence " +
               std::to_string(r.divergence) + ">";
      });

  py::class_<BarycenterResult>(m, "BarycenterResult",
                               "eot.barycenter's answer: the barycenter and how the iterations "
                               "ended.")
      .def_readonly("barycenter", &BarycenterResult::barycenter)
      .def_property_readonly("status",
                             [](const BarycenterResult& r) { return to_string(r.status); })
      .def_readonly("message", &BarycenterResult::message)
      .def_readonly("iterations", &BarycenterResult::iterations)
      .def_readonly("marginal_error", &BarycenterResult::marginal_error)
      .def_readonly("solve_time_seconds", &BarycenterResult::solve_time_seconds)
      .def("__repr__", [](const BarycenterResult& r) {
        return "<eot.BarycenterResult " + std::string(to_string(r.status)) + ", " +
               std::to_string(r.iterations) + " iterations>";
      });

  py::class_<ExactResult>(m, "ExactResult",
                          "eot.exact's answer: the optimal cost <P, C>, the plan, dual "
                          "potentials f, g (f_i + g_j <= C_ij) and their value.")
      .def_readonly("cost", &ExactResult::cost)
      .def_readonly("plan", &ExactResult::plan)
      .def_readonly("f", &ExactResult::f)
      .def_readonly("g", &ExactResult::g)
      .def_readonly("dual", &ExactResult::dual)
      .def("__repr__", [](const ExactResult& r) {
        return "<eot.ExactResult cost " + std::to_string(r.cost) + ">";
      });

  auto solve_function = [](bool batch) {
    return
        [batch](const py::object& cost, const py::object& x, const py::object& y,
                const std::string& metric, const py::object& a, const py::object& b, double epsilon,
                double rho_a, double rho_b, const std::string& precision,
                std::optional<double> tolerance, int max_iterations, int threads, int check_every,
                const std::string& domain, const std::string& newton, bool epsilon_scaling,
                std::uint64_t memory_limit, std::optional<Eigen::VectorXd> initial_f,
                std::optional<Eigen::VectorXd> initial_g) -> py::object {
          const Inputs in{cost, x, y, a, b, metric, epsilon, rho_a, rho_b};
          const Options opts{tolerance, max_iterations,  threads,      check_every, domain,
                             newton,    epsilon_scaling, memory_limit, initial_f,   initial_g};
          std::vector<PyResult> results = solve_any(in, opts, precision, batch);
          if (!batch) return py::cast(std::move(results[0]));
          return py::cast(std::move(results));
        };
  };
  const auto problem_arguments = std::make_tuple(
      py::arg("cost") = py::none(), py::kw_only(), py::arg("x") = py::none(),
      py::arg("y") = py::none(), py::arg("metric") = "sqeuclidean", py::arg("a") = py::none(),
      py::arg("b") = py::none(), py::arg("epsilon"), py::arg("rho_a") = kInf,
      py::arg("rho_b") = kInf, py::arg("precision") = "double");
  std::apply(
      [&](auto... problem) {
        std::apply(
            [&](auto... solver) {
              m.def("solve", solve_function(false), kSolveDoc, problem..., solver...);
              m.def("solve_batched", solve_function(true), kSolveBatchedDoc, problem..., solver...);
            },
            solver_arguments());
      },
      problem_arguments);

  std::apply(
      [&](auto... solver) {
        m.def(
            "divergence",
            [](const py::object& x, const py::object& y, const py::object& a, const py::object& b,
               double epsilon, const std::string& metric, double rho, const std::string& precision,
               std::optional<double> tolerance, int max_iterations, int threads, int check_every,
               const std::string& domain, const std::string& newton, bool epsilon_scaling,
               std::uint64_t memory_limit, std::optional<Eigen::VectorXd> initial_f,
               std::optional<Eigen::VectorXd> initial_g) {
              const Inputs in{py::none(), x, y, a, b, metric, epsilon, rho, rho};
              const Options opts{tolerance, max_iterations,  threads,      check_every, domain,
                                 newton,    epsilon_scaling, memory_limit, initial_f,   initial_g};
              return is_float(precision) ? divergence<float>(in, rho, opts)
                                         : divergence<double>(in, rho, opts);
            },
            kDivergenceDoc, py::arg("x"), py::arg("y"), py::kw_only(), py::arg("a") = py::none(),
            py::arg("b") = py::none(), py::arg("epsilon"), py::arg("metric") = "sqeuclidean",
            py::arg("rho") = kInf, py::arg("precision") = "double", solver...);
        m.def(
            "barycenter",
            [](const py::object& measures, const py::object& cost, const py::object& weights,
               double epsilon, bool debiased, const std::string& precision,
               std::optional<double> tolerance, int max_iterations, int threads, int check_every,
               const std::string& domain, const std::string& newton, bool epsilon_scaling,
               std::uint64_t memory_limit, std::optional<Eigen::VectorXd> initial_f,
               std::optional<Eigen::VectorXd> initial_g) {
              const Options opts{tolerance, max_iterations,  threads,      check_every, domain,
                                 newton,    epsilon_scaling, memory_limit, initial_f,   initial_g};
              return is_float(precision)
                         ? barycenter<float>(measures, cost, weights, epsilon, debiased, opts)
                         : barycenter<double>(measures, cost, weights, epsilon, debiased, opts);
            },
            kBarycenterDoc, py::arg("measures"), py::arg("cost"), py::kw_only(),
            py::arg("weights") = py::none(), py::arg("epsilon"), py::arg("debiased") = false,
            py::arg("precision") = "double", solver...);
      },
      solver_arguments());

  m.def(
      "exact",
      [](const py::object& cost, const py::object& x, const py::object& y,
         const std::string& metric, const py::object& a, const py::object& b,
         std::uint64_t memory_limit) {
        return exact(Inputs{cost, x, y, a, b, metric, 1.0, kInf, kInf}, memory_limit);
      },
      kExactDoc, py::arg("cost") = py::none(), py::kw_only(), py::arg("x") = py::none(),
      py::arg("y") = py::none(), py::arg("metric") = "sqeuclidean", py::arg("a") = py::none(),
      py::arg("b") = py::none(), py::arg("memory_limit") = 0);

  // float32 q computes in float, anything else in double (PyTorch's dtype rule, roughly).
  auto single = [](const py::object& q) {
    const auto array = py::array::ensure(q);
    return array && array.dtype().is(py::dtype::of<float>());
  };
  m.def(
      "attention",
      [single](const py::object& q, const py::object& k, const py::object& v,
               std::optional<double> epsilon, bool causal, const py::object& bias, bool two_sided,
               int iterations, const std::string& regularizer, int threads) -> py::array {
        return single(q) ? attention_forward<float>(q, k, v, epsilon, causal, bias, two_sided,
                                                    iterations, regularizer, threads)
                         : attention_forward<double>(q, k, v, epsilon, causal, bias, two_sided,
                                                     iterations, regularizer, threads);
      },
      kAttentionDoc, py::arg("q"), py::arg("k"), py::arg("v"), py::kw_only(),
      py::arg("epsilon") = py::none(), py::arg("causal") = false, py::arg("bias") = py::none(),
      py::arg("two_sided") = false, py::arg("iterations") = 0, py::arg("regularizer") = "softmax",
      py::arg("threads") = 0);
  m.def(
      "attention_backward",
      [single](const py::object& q, const py::object& k, const py::object& v,
               const py::object& grad_output, std::optional<double> epsilon, bool causal,
               const py::object& bias, const std::string& regularizer, int threads) {
        return single(q) ? attention_backward<float>(q, k, v, grad_output, epsilon, causal, bias,
                                                     regularizer, threads)
                         : attention_backward<double>(q, k, v, grad_output, epsilon, causal, bias,
                                                      regularizer, threads);
      },
      kAttentionBackwardDoc, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("grad_output"),
      py::kw_only(), py::arg("epsilon") = py::none(), py::arg("causal") = false,
      py::arg("bias") = py::none(), py::arg("regularizer") = "softmax", py::arg("threads") = 0);

  m.def("instruction_set", &instruction_set,
        "The instruction set eot's kernels run with: 'avx512', 'avx2' or 'baseline' (the best "
        "this CPU has, unless the environment variable EOT_ISA names a lower one).");
}
