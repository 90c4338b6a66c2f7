// The min step's objective on a minibatch (docs/method.md):
//   L_g = sum_i w_ig l_i / (sum_i w_ig + 1e-9)   over the groups present in the batch
//   L   = mean_g L_g + lambda * Var_g(L_g)        (unbiased Var; L = mean if one group present)
// A group is present when its weight sum in the batch is > 0 (for one-hot groups: when any
// member is). Kept apart from the training loop so it can be checked by hand.
#pragma once
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace invdiff {

struct GroupObjective {
  at::Tensor total;         // scalar L
  at::Tensor mean_term;     // mean_g L_g
  at::Tensor var_term;      // lambda * Var_g(L_g) (the relative form: lambda * Var / mean^2)
  at::Tensor group_losses;  // [G] L_g; absent groups hold NaN
  int64_t present = 0;
};

// l [B] per-sample losses, w [B, G] group weights (same dtype); w undefined: plain mean (the
// ERM control), reported as one group. relative: lambda * Var_g / mean_g^2, scale-free (with an
// eps-MSE of ~0.03 the absolute variance is ~1e-5 and lambda = 1 barely acts).
// group_condition [G] (int64, optional): each group's condition, -1 for a group whose rows span
// several. Given, the variance term is the mean over conditions holding >= 2 present groups of
// the variance among those groups (relative: each over its own mean^2), so differences between
// prompts, which no guidance should equalise, are not penalised; no such condition: 0.
GroupObjective group_objective(const at::Tensor& l, const at::Tensor& w, double lambda, bool relative = false,
                               const at::Tensor& group_condition = {});

// Each column of W [N, G]'s condition: the one label all its weighted rows share, else -1 (a
// column with no weight: -1). For groups crossed with the class, and for class x attribute
// oracle groups, every column has one.
at::Tensor group_conditions(const at::Tensor& W, const at::Tensor& labels);

}  // namespace invdiff
