// The paper's Bias formula on one distribution of attribute values (docs/evaluation.md), below
// every layer that needs it: eval scores generated images with it, the group report the
// distribution a min step would see when it balances the inferred groups.
#pragma once
#include <cstdint>
#include <vector>

namespace invdiff {

// Bias_p = 2 / (K (K - 1)) * sum_{i<j} |f_i - f_j| for shares f_1..f_K (K >= 2).
double bias_from_shares(const std::vector<double>& f);
// counts[k] -> shares; an all-zero row scores 0 (no evidence either way) and is flagged by callers.
std::vector<double> shares_from_counts(const std::vector<int64_t>& counts);

}  // namespace invdiff
