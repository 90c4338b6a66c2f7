#include "eval/bias.h"

#include <cmath>
#include <stdexcept>

namespace invdiff {

BiasReport bias_report(const std::vector<int64_t>& prompt, const std::vector<int64_t>& attr, int64_t P, int64_t K) {
  if (prompt.size() != attr.size()) throw std::invalid_argument("bias: one attribute per image needed");
  std::vector<std::vector<int64_t>> counts(P, std::vector<int64_t>(K, 0));
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= P) throw std::invalid_argument("bias: prompt index out of range");
    if (attr[i] >= K) throw std::invalid_argument("bias: attribute index out of range");
    if (attr[i] >= 0) ++counts[prompt[i]][attr[i]];
  }
  BiasReport r;
  for (int64_t p = 0; p < P; ++p) {
    r.shares.push_back(shares_from_counts(counts[p]));
    r.per_prompt.push_back(bias_from_shares(r.shares.back()));
    r.mean += r.per_prompt.back();
  }
  if (P > 0) r.mean /= static_cast<double>(P);
  return r;
}

}  // namespace invdiff
