// The entropic barycenter against POT's (data/pot/make_barycenter.py), and its invariants.
#include <doctest/doctest.h>

#include "helpers.hpp"

using namespace test;

TEST_CASE("barycenter: POT's sinkhorn_log barycenter to 1e-9, and its couplings' marginals") {
  const std::string folder = data_path("pot/barycenter/");
  const MatrixD cost = eot::io::read_matrix(folder + "cost.csv");
  const MatrixD measures = eot::io::read_matrix(folder + "measures.csv");
  const VectorXd lambdas = eot::io::read_vector(folder + "lambdas.csv");
  const VectorXd expected = eot::io::read_vector(folder + "barycenter.csv");
  auto geometry = std::make_shared<eot::CostMatrix<double>>(cost);
  eot::SolverOptions options;
  options.tolerance = 1e-12;
  options.max_iterations = 100000;
  const eot::BarycenterResult r =
      eot::barycenter<double>(geometry, measures, lambdas, 0.01, options);
  REQUIRE(r.status == eot::Status::Converged);
  CHECK(r.marginal_error <= 1e-12);
  CHECK((r.barycenter - expected).cwiseAbs().maxCoeff() < 1e-9);
  CHECK(r.barycenter.sum() == doctest::Approx(1).epsilon(1e-11));

  // All the weight on one histogram a: a closed form, b = K^T (a / K 1) with K = exp(-C / eps)
  // (v = 1 is then a fixed point): a blurred once, not a itself.
  const VectorXd one = VectorXd::Unit(3, 1);
  const eot::BarycenterResult single =
      eot::barycenter<double>(geometry, measures, one, 0.01, options);
  REQUIRE(single.status == eot::Status::Converged);
  const MatrixD kernel = (-cost.array() / 0.01).exp();
  const VectorXd a = measures.row(1).transpose();
  const VectorXd blurred = kernel.transpose() * a.cwiseQuotient(kernel * VectorXd::Ones(60));
  CHECK((single.barycenter - blurred).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((single.barycenter - a).cwiseAbs().maxCoeff() > 1e-3);

  // Debiased (Janati et al. 2020): POT's barycenter_debiased to 1e-9; and the barycenter of one
  // smooth histogram is that histogram (S(b, a) >= 0 is 0 at b = a), where the plain one blurs.
  const VectorXd expected_debiased = eot::io::read_vector(folder + "barycenter_debiased.csv");
  const eot::BarycenterResult debiased =
      eot::barycenter<double>(geometry, measures, lambdas, 0.01, options, true);
  REQUIRE(debiased.status == eot::Status::Converged);
  CHECK((debiased.barycenter - expected_debiased).cwiseAbs().maxCoeff() < 1e-9);
  CHECK((debiased.barycenter - expected).cwiseAbs().maxCoeff() > 1e-3);
  MatrixD smooth(1, 60);
  for (Index i = 0; i < 60; ++i)
    smooth(0, i) = std::exp(-std::pow((double(i) / 59 - 0.5) / 0.05, 2));
  smooth /= smooth.sum();
  const eot::BarycenterResult itself =
      eot::barycenter<double>(geometry, smooth, VectorXd::Ones(1), 0.01, options, true);
  REQUIRE(itself.status == eot::Status::Converged);
  CHECK((itself.barycenter - smooth.row(0).transpose()).cwiseAbs().maxCoeff() < 1e-10);
  const eot::BarycenterResult blurred_smooth =
      eot::barycenter<double>(geometry, smooth, VectorXd::Ones(1), 0.01, options);
  CHECK((blurred_smooth.barycenter - smooth.row(0).transpose()).cwiseAbs().maxCoeff() > 1e-3);

  // Float runs the same iterations to float's tolerance.
  const eot::BarycenterResult f =
      eot::barycenter<float>(std::make_shared<eot::CostMatrix<float>>(cost.cast<float>()),
                             measures.cast<float>(), lambdas, 0.01);
  REQUIRE(f.status == eot::Status::Converged);
  CHECK((f.barycenter - expected).cwiseAbs().maxCoeff() < 1e-4);
}

TEST_CASE("barycenter: bad input names the field and the entry") {
  auto geometry = std::make_shared<eot::CostMatrix<double>>(uniform_matrix(4, 4, 701));
  MatrixD measures = MatrixD::Constant(2, 4, 0.25);
  auto refusal = [&](const MatrixD& m, const VectorXd& l) {
    return message_of<eot::InvalidArgument>([&] { eot::barycenter<double>(geometry, m, l, 0.1); });
  };
  CHECK(refusal(measures, VectorXd()).empty());
  MatrixD bad = measures;
  bad(1, 2) = -1;
  CHECK(refusal(bad, VectorXd()) == "measures(1, 2) is -1: histograms must be finite and >= 0");
  bad = measures;
  bad.row(1) *= 2;
  CHECK(contains(refusal(bad, VectorXd()), "the histograms need equal positive masses"));
  CHECK(refusal(measures, VectorXd::Constant(3, 1.0 / 3)) ==
        "lambdas has 3 entries but there are 2 histograms");
  CHECK(contains(refusal(measures, VectorXd::Constant(2, 0.6)), "lambdas sum to 1.2"));
  CHECK(contains(refusal(MatrixD::Constant(2, 3, 1.0 / 3), VectorXd()),
                 "cost: 4 x 4, but the histograms have 3 entries"));
}
