// eot: entropic optimal transport. Include this one header to get the whole library.
//
//   auto cost = std::make_shared<eot::CostMatrix<double>>(C);   // or eot::PointCloud
//   eot::Problem<double> problem(cost, 0.01);                   // a, b uniform; balanced
//   eot::Result result = eot::solve(problem);
//   std::cout << result.full_report();
#pragma once

#include "eot/attention.hpp"
#include "eot/barycenter.hpp"
#include "eot/batch.hpp"
#include "eot/distributed.hpp"
#include "eot/divergence.hpp"
#include "eot/error.hpp"
#include "eot/exact.hpp"
#include "eot/geometry.hpp"
#include "eot/memory.hpp"
#include "eot/parallel.hpp"
#include "eot/problem.hpp"
#include "eot/solver.hpp"
#include "eot/types.hpp"
#include "eot/version.hpp"
