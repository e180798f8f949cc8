// Solving: options (how to iterate), the Sinkhorn solver (log or kernel domain, with a Newton
// stage), and its result.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "eot/problem.hpp"

namespace eot {

enum class Status {
  Converged,             // marginal error <= tolerance * the aimed mass (SolverOptions::tolerance)
                         // at the target epsilon
  MaxIterationsReached,  // the iteration budget ran out first
  NumericalFailure,      // an update would have produced a non-finite value; the last finite
                         // potentials are returned
  StoppedByCallback,     // the callback asked to stop; the values are those of the last state
  AbortedByCallback,     // the callback asked to abort
  Interrupted,           // SolverOptions::interrupt turned true; f and g are the potentials of
                         // the last completed update, no other value is evaluated
  Stalled,               // the error stopped falling above the tolerance (the precision's floor,
                         // see Result::message), with no Newton step left to try
};
// "converged", "max_iterations", "numerical_failure", "stopped", "aborted", "interrupted",
// "stalled".
const char* to_string(Status status);

// A convergence check: what the callback sees at each one, and what Result::history keeps of
// those at the target epsilon. With epsilon scaling, the callback also sees the end of every
// stage before the target (stage < stages - 1: its epsilon, its marginal error).
struct IterationInfo {
  int iteration = 0;  // iterations so far (one iteration = an f- and a g-update)
  int stage = 0;      // epsilon-scaling stage, 0-based; the last one is the target
  int stages = 1;
  double epsilon = 0;         // epsilon of this stage
  double marginal_error = 0;  // docs/conventions.md, "Reported values"
  double threshold = 0;       // converged when marginal_error <= threshold
  double elapsed_seconds = 0;
  int newton_steps = 0;  // of the iterations so far, Newton steps
};

// Ordered by strength: a distributed solve takes the strongest any rank asks for.
enum class CallbackAction { Continue, Stop, Abort };
using IterationCallback = std::function<CallbackAction(const IterationInfo&)>;

// Epsilon scaling (annealing, docs/conventions.md, "Epsilon scaling"): stages at epsilon_k =
// epsilon_0 * factor^k while above the target, a few iterations each, then the normal convergence
// loop at the target epsilon. Skipped when a side is free (the problem is then solved in closed
// form).
struct EpsilonScaling {
  bool enabled = false;
  double initial_epsilon = 0;  // 0: the range of the finite costs (as the solver sees them:
                               // docs/conventions.md, "Large costs against epsilon")
  double factor = 0.5;         // in (0, 1)
  int iterations_per_stage = 2;
};

// Over-relaxation (Thibault et al. 2017; OTT-JAX's "momentum"): each update moves a potential
// omega times as far as plain Sinkhorn would, f <- f + omega (T(f) - f). At the target epsilon,
// once two checks have measured the plain rate r (marginal error shrinking by r per
// iteration), omega = 2 / (1 + sqrt(1 - r)), at most max_omega; every two checks after that,
// the over-relaxed rate re-estimates r (adaptive SOR) and omega may move up, from a new
// starting point. The safe fallback: if the
// error then grows past 10 times its value when omega was set, or has not fallen below it
// after max(5 checks, 2 / (1 - r) iterations), the solver returns to that state and to
// omega = 1, measures the rate afresh and tries again; after 3 fallbacks it stays plain.
struct Acceleration {
  bool enabled = true;
  double max_omega = 1.9;  // in [1, 2)
  double omega = 0;        // > 0: this omega instead of the rule (still with the fallback)
};

// Where the iterations at the target epsilon get their log-sum-exps (see lib/detail/
// kernel_domain.hpp). The kernel domain stores K = the plan at absorbed potentials (n x m in T)
// and replaces each pass's n m exps by a matrix-vector product; it absorbs K again (one exp
// pass) when the potentials move more than 200 epsilon (20 in float) away, and makes a
// log-domain pass whenever K cannot give an entry (underflow). Epsilon-scaling stages and
// problems with a free side always run in the log domain.
enum class Domain {
  Auto,    // Kernel when both sides are constrained and K fits the kernel budget (see
           // SolverOptions::memory_limit), else Log
  Log,     // n m exps per pass, nothing stored: point clouds stay O(n + m) in memory
  Kernel,  // whenever both sides are constrained; InvalidArgument if K cannot fit
};
inline constexpr Domain kDomains[] = {Domain::Auto, Domain::Log, Domain::Kernel};
const char* to_string(Domain domain);  // "auto", "log", "kernel"
// Parses those names; throws InvalidArgument otherwise.
Domain domain_from_string(const std::string& name);

// The Newton stage (docs/conventions.md, "The Newton stage"): Newton steps on the dual with a
// sparsified Hessian, for problems with both sides constrained. Each step counts as one
// iteration. Auto switches to it at the target epsilon when the recent Sinkhorn rate says
// more than kNewtonAfter iterations remain (10 times that in the kernel domain, whose
// iterations are about ten times cheaper), or the error has stopped falling; On switches at
// the first check at the target; Off never. A step that finds no ascent sends the solve back
// to Sinkhorn (plain, without over-relaxation), which may switch again later, twice at most.
enum class NewtonMode { Auto, On, Off };
inline constexpr int kNewtonAfter = 1000;
inline constexpr NewtonMode kNewtonModes[] = {NewtonMode::Auto, NewtonMode::On, NewtonMode::Off};
const char* to_string(NewtonMode mode);  // "auto", "on", "off"
// Parses those names; throws InvalidArgument otherwise.
NewtonMode newton_mode_from_string(const std::string& name);

struct SolverOptions {
  int max_iterations = 10000;
  // Relative to the mass the marginals aim at: converged when marginal_error <= tolerance *
  // max(sum t_a, sum t_b), with t = a on a hard side and a exp(-f / rho_a) on a soft one
  // (docs/conventions.md, "Reported values"), free sides left out: max(sum a, sum b) when both
  // sides are hard, and still relative when an unbalanced plan's optimal mass is tiny. 0 means the
  // precision's default: 1e-9 for double, 1e-5 for float.
  double tolerance = 0;
  int check_every = 10;  // check convergence every this many iterations
  EpsilonScaling epsilon_scaling;
  Acceleration acceleration;
  Domain domain = Domain::Auto;
  NewtonMode newton = NewtonMode::Auto;
  // The most memory the solve's dense arrays may take together, in bytes, the geometry's own
  // included (a dense cost matrix, the kernel-domain K). 0 means the default: whatever memory
  // is available, with Domain::Auto storing K only if it is no larger than the costs
  // themselves or 256 MB (so point clouds stay matrix-free unless K is small), and no larger
  // than a quarter of the available memory. With a limit set, Auto stores K whenever it fits
  // beside the geometry, and anything that cannot fit is refused up front.
  std::uint64_t memory_limit = 0;
  int threads = 0;  // 0: every CPU this process may use (eot::thread_count); at most 1024
  // Warm start (n and m entries); empty means zeros. Ignored on a free side.
  Eigen::VectorXd initial_f;
  Eigen::VectorXd initial_g;
  IterationCallback callback;  // called at every check; may stop or abort the solve
  // Asynchronous cancellation, e.g. set from a signal handler (std::atomic<bool> is lock-free):
  // once true, the running pass over the costs stops within a block of 64 rows or 256 columns
  // and the solve returns Status::Interrupted. Checked only, never written.
  const std::atomic<bool>* interrupt = nullptr;
};

// The tolerance a solve of precision T uses with these options.
template <typename T>
double effective_tolerance(const SolverOptions& options);

// Where a solve's iterations at the target epsilon will run, and what that takes.
struct DomainChoice {
  Domain domain = Domain::Log;  // Log or Kernel
  double kernel_bytes = 0;      // K's size when Kernel, else 0
  std::string reason;           // one line, e.g. "kernel domain, K takes 32 MB"
};
// The rule solve() follows (Domain and SolverOptions::memory_limit). Throws InvalidArgument
// if Domain::Kernel is asked for and K cannot fit.
template <typename T>
DomainChoice choose_domain(const Problem<T>& problem, const SolverOptions& options = {});

struct Result {
  Status status = Status::NumericalFailure;
  std::string message;  // why it ended, in words

  // The problem, for reports.
  std::string geometry;   // Geometry::describe()
  std::string regime;     // regime_name(rho_a, rho_b)
  std::string precision;  // "double" or "float"
  Index n = 0, m = 0;
  double epsilon = 0, rho_a = 0, rho_b = 0;
  double tolerance = 0;  // relative, as used

  // The potentials (cost units) and the plan's marginals r = P 1, c = P^T 1.
  Eigen::VectorXd f, g, row_marginal, col_marginal;

  int iterations = 0;           // Sinkhorn iterations and Newton steps
  int newton_steps = 0;         // of which Newton steps
  int stages = 1;               // epsilon-scaling stages, the target included
  double omega = 1;             // the over-relaxation in use at the end (1: none)
  Domain domain = Domain::Log;  // where the target-epsilon iterations ran: Log or Kernel
                                // (a kernel given up on the way, see Domain, reports Log)
  int absorptions = 0;          // kernel-domain absorptions (exp passes storing K)
  double kernel_bytes = 0;      // K's memory when the kernel domain was chosen, else 0
  double marginal_error = 0;    // of the returned potentials
  double transport_cost = 0;    // <P, C>
  double primal = 0;            // docs/conventions.md, "Reported values"
  double dual = 0;
  double gap = 0;                      // primal - dual: -> 0 at convergence (either sign before)
  double entropy = 0;                  // -sum P log P
  double mass = 0;                     // sum P
  double solve_time_seconds = 0;       // the whole solve() call, validation included
  int ranks = 1;                       // processes the rows were split over (eot/distributed.hpp)
  std::vector<IterationInfo> history;  // every convergence check at the target epsilon
  // Interrupted results carry f and g (and the problem fields) only: the marginals are empty
  // and the values 0, since evaluating them would take more passes over the costs.

  bool converged() const { return status == Status::Converged; }
  // One line: status, iterations, error, cost, time.
  std::string brief_report() const;
  // Several lines: the problem, how it ended, every value.
  std::string full_report() const;
};

// A result's scalar fields by name: the one table behind every list of them (the full report's
// values, `eot solve --json`, eot sweep's CSV and JSON rows, the Python module's attributes).
struct ResultField {
  using Value = std::variant<long long, double, std::string>;
  const char* name;  // as the JSON, the CSV and Python name it
  Value (*get)(const Result&);
  // A value the solve found (one per epsilon in eot sweep's rows), not a fact of the problem
  // or of how the solve ran.
  bool found = false;
  // Its line in the full report ("marginal error", then this text), or nullptr.
  const char* label = nullptr;
  std::string (*report)(const Result&) = nullptr;
};
// In the order `eot solve --json` writes them: the found values first.
const std::vector<ResultField>& result_fields();
// The field of that name; throws InvalidArgument if there is none.
const ResultField& result_field(const std::string& name);
// An entry of Result::history as `eot solve --json` and the Python module write it: iteration,
// epsilon and marginal_error, in that order.
std::vector<std::pair<const char*, ResultField::Value>> history_entry(const IterationInfo& check);

// Throws InvalidArgument naming the first field that breaks a rule (sizes, finiteness, signs,
// masses, feasibility of hard sides, options). solve() calls it before the first iteration.
template <typename T>
void validate(const Problem<T>& problem, const SolverOptions& options = {});

// Sinkhorn with per-side damping (docs/conventions.md): log or kernel domain (Domain),
// over-relaxed, with a Newton stage where it is slow (NewtonMode). Bad input throws; every other
// outcome is a Status in the result.
template <typename T>
Result solve(const Problem<T>& problem, const SolverOptions& options = {});

extern template void validate(const Problem<float>&, const SolverOptions&);
extern template void validate(const Problem<double>&, const SolverOptions&);
extern template Result solve(const Problem<float>&, const SolverOptions&);
extern template Result solve(const Problem<double>&, const SolverOptions&);
extern template DomainChoice choose_domain(const Problem<float>&, const SolverOptions&);
extern template DomainChoice choose_domain(const Problem<double>&, const SolverOptions&);
extern template double effective_tolerance<float>(const SolverOptions&);
extern template double effective_tolerance<double>(const SolverOptions&);

}  // namespace eot
