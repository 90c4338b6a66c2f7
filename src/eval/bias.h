// The paper's Bias metric (docs/evaluation.md): for a prompt with attribute shares f_1..f_K,
// Bias_p = 2 / (K (K - 1)) * sum_{i<j} |f_i - f_j|; Bias = mean over prompts.
#pragma once
#include <cstdint>
#include <vector>

#include "core/shares.h"

namespace invdiff {


struct BiasReport {
  std::vector<std::vector<double>> shares;  // per prompt, per attribute class
  std::vector<double> per_prompt;
  double mean = 0;
};
// attr[i] in [0, K) (or -1: unclassifiable, excluded from the shares) for images of prompt[i].
BiasReport bias_report(const std::vector<int64_t>& prompt, const std::vector<int64_t>& attr, int64_t num_prompts, int64_t K);

}  // namespace invdiff
