#include "invdiff/auc.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace invdiff {

double roc_auc(const std::vector<double>& score, const std::vector<int>& positive) {
  if (score.size() != positive.size()) throw std::invalid_argument("roc_auc: score and flag lengths differ");
  const size_t n = score.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  // Sum of the positives' ranks (1-based), tied scores sharing their average rank.
  double rank_sum = 0;
  size_t n_pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && score[order[j]] == score[order[i]]) ++j;
    double avg_rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of ranks i+1 .. j
    for (size_t k = i; k < j; ++k)
      if (positive[order[k]]) {
        rank_sum += avg_rank;
        ++n_pos;
      }
    i = j;
  }
  size_t n_neg = n - n_pos;
  if (n_pos == 0 || n_neg == 0) return std::nan("");
  double u = rank_sum - static_cast<double>(n_pos) * (n_pos + 1) / 2.0;
  return u / (static_cast<double>(n_pos) * static_cast<double>(n_neg));
}

}  // namespace invdiff
