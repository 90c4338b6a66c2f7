// The paper's soft grouper (the "max" step; docs/method.md): W in R^{N x G}, rows on the probability
// simplex, chosen to spread the groups' mean scores apart:
//   J(W) = - std_g(m_g) - c * min_{i,g}(l_i W_ig),   m_g = sum_i l_i W_ig / sum_i W_ig
// minimised by full-batch Adam, each step followed by a row-wise projection (clamp at 0, divide
// by the row sum; a row that clamps to all zeros becomes uniform). Float64 throughout: N x G is
// small and the objective is a difference of means.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/json.h"

namespace invdiff {

struct GrouperOptions {
  int64_t groups = 8;   // G
  int64_t steps = 500;  // full-batch Adam steps
  double lr = 0.01;
  double c = 0.0;       // weight of the min term
  uint64_t seed = 0;    // U(0, 1) initialisation
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GrouperOptions, groups, steps, lr, c, seed)

// J(W) for W [N, G] and scores l [N] (differentiable in W). std is unbiased (needs G >= 2).
at::Tensor grouper_objective(const at::Tensor& W, const at::Tensor& l, double c);

// In place, without autograd: clamp at 0, divide each row by its sum, all-zero rows -> 1/G.
void project_rows_to_simplex_(at::Tensor& W);

// U(0, 1) from the seed, projected onto the simplex (float64 [N, G]).
at::Tensor init_group_weights(int64_t n, int64_t groups, uint64_t seed);

struct GrouperResult {
  at::Tensor W;         // [N, G] float64, rows on the simplex
  at::Tensor hard;      // [N] int64 argmax group
  double objective = 0; // J at the returned W
  double spread = 0;    // std_g(m_g) at the returned W
};

// Runs the grouper on scores l [N]. `init` (optional, [N, G]) replaces the seeded start; it is
// used as given (tests), so pass a row-stochastic one.
GrouperResult fit_groups(const at::Tensor& l, const GrouperOptions& opt, const at::Tensor& init = {},
                         bool progress = false);

// m_g for the given weights: [G] float64.
at::Tensor group_means(const at::Tensor& W, const at::Tensor& l);

// The Otsu alternative (the label-free split that isolates a minority; not the paper's grouper). The std
// objective favours a few extreme samples and its sign-like Adam steps leave samples between two
// group means to their random init; Otsu's criterion n_lo n_hi (m_hi - m_lo)^2 weights the
// spread by group size, so it cuts a bimodal score at its gap.
// The threshold between the two sides of the best split (midpoint of the neighbouring scores);
// scores > threshold are "high". No split (fewer than 2 distinct values): the largest score.
double otsu_threshold(std::vector<double> scores);
// The best split's between-group variance as a share of the total variance, in [0, 1]: how
// cleanly the scores fall into two groups (0 when there is no split).
double otsu_explained_share(std::vector<double> scores);
// One-hot [N, 2] (column 0 "low", 1 "high") from a separate Otsu split within each condition.
at::Tensor otsu_groups(const at::Tensor& l, const at::Tensor& labels);

}  // namespace invdiff
