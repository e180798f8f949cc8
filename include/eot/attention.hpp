// Scaled-dot-product attention as the one-sided entropic OT problem (see docs/conventions.md).
//
// Per query i, the attention weights p_i = softmax_j(s_ij) over the keys it may see, with the
// scaled scores s_ij = <q_i, k_j> / epsilon + bias_ij, are the unique solution of
//
//   minimize over the simplex   sum_j C_ij p_j - epsilon H(p),   C_ij = -<q_i, k_j> - epsilon
//   bias_ij
//
// that is, the plan of the EOT problem with a_i = 1, rho_a = inf (rows exact) and rho_b = 0
// (columns free). forward_via_solver() takes that route through eot::solve; forward() is a
// streaming kernel (FlashAttention's online softmax) that never holds the n x m weights unless
// asked for them. Both follow PyTorch's conventions for masks and biases.
//
// Every function takes its arguments in one order: the inputs (q, k, v, grad_output), the
// batch_heads of a batch, epsilon, the mask, the variant (regularizer, normalizations),
// threads, and last the optional extra outputs or saved results.
//
// lib/attention/: streaming.cpp (the kernels' route), solver_route.cpp (through eot::solve,
// and two-sided attention), regularizers.cpp (softmax, sparsemax, 1.5-entmax) and
// identities.cpp (the potential, the Fisher information, the advantage form).
#pragma once

#include <string>
#include <vector>

#include "eot/solver.hpp"
#include "eot/types.hpp"

namespace eot::attention {

// What each query may see, and what is added to its scaled scores.
template <typename T>
struct Mask {
  bool causal = false;  // query i sees keys j <= i (PyTorch's is_causal, top-left aligned)
  std::vector<bool> key_padding;  // m entries or empty; true = the key is padding, never seen
  Matrix<T> bias;                 // n x m or empty; added to the scaled scores (PyTorch's float
                                  // attn_mask: ALiBi is a bias, -inf masks a pair)
};

// epsilon <= 0 means sqrt(d). A query that sees no key gets a zero row of weights and a zero
// output row (PyTorch returns NaN there).
template <typename T>
Matrix<T> forward(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v, double epsilon = 0,
                  const Mask<T>& mask = {}, int threads = 0, Matrix<T>* weights = nullptr);

// Batches and heads: q is (B*H*n) x d, k is (B*H*m) x d, v is (B*H*m) x dv, the layout of a
// contiguous PyTorch tensor of shape (B, H, L, d) viewed as (B*H*L, d). Each of the
// batch_heads = B*H blocks is an independent problem, all with the same mask; blocks are shared
// among threads, one thread each (a single block gets them all). Returns (B*H*n) x dv. If
// `log_sum_exp` is given, it receives each query's log sum_j exp(s_ij) over the scaled scores
// (-inf for a query that sees no key): with the output, what backward_batched() needs to skip
// its own forward pass.
template <typename T>
Matrix<T> forward_batched(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                          Index batch_heads, double epsilon = 0, const Mask<T>& mask = {},
                          int threads = 0, Vector<T>* log_sum_exp = nullptr);

// The same output through the core solver: the one-sided problem with the cost -<q, k>
// (matrix-free when there is no mask or bias; masks become forbidden pairs or zero key weights).
template <typename T>
Matrix<T> forward_via_solver(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                             double epsilon = 0, const Mask<T>& mask = {}, int threads = 0,
                             Matrix<T>* weights = nullptr);

// Two-sided (Sinkhorn) attention: the same problem with the columns constrained too
// (rho_b = inf), rows summing to 1 and columns to n / m (among the queries and keys that see
// anything). `normalizations` counts row and column normalizations, rows first: 1 is SDPA
// exactly, 2 adds a column pass, and so on; 0 runs to convergence.
template <typename T>
struct TwoSided {
  Matrix<T> output, weights;
  double column_error = 0;  // |P^T 1 - n / m|_1, what is left of the column constraint
  int normalizations = 0;
  Status status = Status::Converged;  // converged, or max_iterations (always for a fixed count
                                      // unless the columns converged first)
};

template <typename T>
TwoSided<T> sinkhorn(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v, double epsilon = 0,
                     const Mask<T>& mask = {}, int normalizations = 0, int threads = 0);

// The entropy term of the per-query problem, and the attention it gives (see sparsemax() and
// entmax15() below): -epsilon H(p) softmax; (epsilon / 2) |p|^2 sparsemax; the Tsallis
// entropy with alpha = 1.5, 1.5-entmax. The last two give exact zeros. Each one's operations
// are a row of lib/attention/regularizers.cpp.
enum class Regularizer { Softmax, Sparsemax, Entmax15 };
inline constexpr Regularizer kRegularizers[] = {Regularizer::Softmax, Regularizer::Sparsemax,
                                                Regularizer::Entmax15};
const char* to_string(Regularizer regularizer);
// "softmax", "sparsemax" or "entmax15"; throws InvalidArgument otherwise.
Regularizer regularizer_from_string(const std::string& name);

// The n x m attention weights for any regularizer (softmax through forward()'s kernel).
template <typename T>
Matrix<T> weights(const Matrix<T>& q, const Matrix<T>& k, double epsilon = 0,
                  const Mask<T>& mask = {}, Regularizer regularizer = Regularizer::Softmax,
                  int threads = 0);

template <typename T>
struct Gradients {
  Matrix<T> dq, dk, dv;
  Matrix<T> ds;  // dL/dS for the unscaled scores S = Q K^T; the bias gradient is epsilon * ds
};

// Backward pass given dL/dO, by the standard formula: P recomputed, D_i = <dO_i, O_i>,
// dS = P o (dO V^T - D 1^T) / epsilon, dQ = dS K, dK = dS^T Q, dV = P^T dO. For sparsemax and
// 1.5-entmax, P o (.) becomes w o (dO V^T - D' 1^T) with w = 1 on the support (sparsemax) or
// w = sqrt(p) (entmax) and D' the w-weighted mean of dO V^T: the same advantage shape with
// another baseline.
template <typename T>
Gradients<T> backward(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                      const Matrix<T>& grad_output, double epsilon = 0, const Mask<T>& mask = {},
                      Regularizer regularizer = Regularizer::Softmax, int threads = 0);
// What backward() checks first: throws InvalidArgument if its n x m working arrays (three of
// T) cannot fit in the available memory. For a caller that wants the refusal before it runs
// the forward pass.
template <typename T>
void require_backward_fits(Index n, Index m);

// The softmax backward pass for batches and heads (forward_batched()'s layout and mask), as a
// streaming kernel (FlashAttention-2's): the weights are recomputed tile by tile from each
// query's log-sum-exp, so no n x m array is ever formed, and Gradients::ds is left empty (the
// bias gradient is not available here; use backward() for it). Heads are shared among threads,
// one thread each (a single head runs on one thread), so results do not depend on the thread
// count. Pass the `output` and
// `log_sum_exp` of forward_batched() (both or neither) to save the forward pass it otherwise
// runs first; they must come from the same q, k, v, epsilon and mask.
template <typename T>
Gradients<T> backward_batched(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                              const Matrix<T>& grad_output, Index batch_heads, double epsilon = 0,
                              const Mask<T>& mask = {}, int threads = 0,
                              const Matrix<T>* output = nullptr,
                              const Vector<T>* log_sum_exp = nullptr);

// The same dL/dS as an advantage-based policy gradient, row by row: with u_ij = <dO_i, v_j>
// (the loss of choosing key j), dS_ij = p_ij (u_ij - E_{p_i}[u_i]) / epsilon.
template <typename T>
Matrix<T> score_gradient_advantage(const Matrix<T>& weights, const Matrix<T>& v,
                                   const Matrix<T>& grad_output, double epsilon);

// How peaked attention weights of q and k are, averaged over the queries that see a key: the
// entropy, the largest weight, and the total-variation distances (half the L1 distance) to hard
// attention (the epsilon -> 0 limit: argmax_j <q_i, k_j> over the keys the query sees, ties
// split evenly) and to uniform attention over those keys (the epsilon -> inf limit).
struct WeightStats {
  double mean_entropy = 0, mean_max_weight = 0, distance_to_hard = 0, distance_to_uniform = 0;
};
template <typename T>
WeightStats weight_stats(const Matrix<T>& weights, const Matrix<T>& q, const Matrix<T>& k,
                         const Mask<T>& mask = {});

// The geometry of one query. Phi(s) = epsilon log sum_j exp(s_j / epsilon) is the dual
// (log-sum-exp) potential of the per-query problem, with unscaled scores s.
double lse_potential(const Eigen::VectorXd& s, double epsilon);
// grad Phi = p = softmax(s / epsilon), the attention distribution.
Eigen::VectorXd softmax(const Eigen::VectorXd& s, double epsilon);
// F = diag(p) - p p^T, the Fisher information of the categorical distribution in its natural
// parameters; Hessian Phi = F / epsilon.
Eigen::MatrixXd fisher(const Eigen::VectorXd& p);
// The Euclidean projection of z onto the simplex (by sorting); -inf entries get 0.
Eigen::VectorXd sparsemax(const Eigen::VectorXd& z);
// 1.5-entmax: p_j = max(z_j / 2 - tau, 0)^2 with tau making sum p = 1 (exact, by sorting).
Eigen::VectorXd entmax15(const Eigen::VectorXd& z);
// D_Phi(s2, s1) = Phi(s2) - Phi(s1) - <grad Phi(s1), s2 - s1>, which equals epsilon KL(p1 | p2).
double bregman(const Eigen::VectorXd& s2, const Eigen::VectorXd& s1, double epsilon);

}  // namespace eot::attention
