#include "core/shares.h"

#include <cmath>
#include <stdexcept>

namespace invdiff {

double bias_from_shares(const std::vector<double>& f) {
  const size_t K = f.size();
  if (K < 2) throw std::invalid_argument("bias: need at least 2 attribute classes");
  double s = 0;
  for (size_t i = 0; i < K; ++i)
    for (size_t j = i + 1; j < K; ++j) s += std::fabs(f[i] - f[j]);
  return 2.0 / (static_cast<double>(K) * (K - 1)) * s;
}

std::vector<double> shares_from_counts(const std::vector<int64_t>& c) {
  int64_t total = 0;
  for (auto v : c) total += v;
  std::vector<double> f(c.size(), 0.0);
  if (total > 0)
    for (size_t k = 0; k < c.size(); ++k) f[k] = static_cast<double>(c[k]) / static_cast<double>(total);
  return f;
}

}  // namespace invdiff
