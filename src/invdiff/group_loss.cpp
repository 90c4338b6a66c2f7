#include "invdiff/group_loss.h"

#include <torch/torch.h>

#include <limits>
#include <map>
#include <stdexcept>
#include <vector>

namespace invdiff {

namespace {
// Unbiased variance of v, optionally over its mean^2.
at::Tensor spread(const at::Tensor& v, bool relative) {
  auto var = v.var(/*unbiased=*/true);
  return relative ? var / v.mean().pow(2).clamp_min(1e-12) : var;
}
}  // namespace

GroupObjective group_objective(const at::Tensor& l, const at::Tensor& w, double lambda, bool relative,
                               const at::Tensor& group_condition) {
  GroupObjective out;
  if (!w.defined()) {
    out.mean_term = l.mean();
    out.var_term = torch::zeros({}, l.options());
    out.total = out.mean_term;
    out.group_losses = out.mean_term.detach().reshape({1});
    out.present = 1;
    return out;
  }
  if (w.dim() != 2 || w.size(0) != l.size(0)) throw std::invalid_argument("group loss: w must be [B, G]");
  auto wl = w.to(l.scalar_type());
  auto mass = wl.sum(0);                                              // [G]
  auto Lg = (wl * l.unsqueeze(1)).sum(0) / (mass + 1e-9);             // [G]
  auto present = (mass > 0).nonzero().squeeze(1);
  out.present = present.size(0);
  if (out.present == 0) throw std::invalid_argument("group loss: no group has weight in this batch");
  auto Lp = Lg.index_select(0, present);
  out.mean_term = Lp.mean();
  out.var_term = torch::zeros({}, l.options());
  if (group_condition.defined()) {
    if (group_condition.dim() != 1 || group_condition.size(0) != w.size(1))
      throw std::invalid_argument("group loss: group_condition must be [G]");
    // On the host: the few group indices are walked here (the losses may be on a GPU).
    auto cp = group_condition.to(torch::kCPU, torch::kInt64).index_select(0, present.cpu()).contiguous();
    const auto* c = cp.data_ptr<int64_t>();
    std::map<int64_t, std::vector<int64_t>> by_condition;  // condition -> positions in Lp
    for (int64_t i = 0; i < cp.size(0); ++i)
      if (c[i] >= 0) by_condition[c[i]].push_back(i);
    std::vector<at::Tensor> terms;
    for (const auto& kv : by_condition)
      if (kv.second.size() > 1) terms.push_back(spread(Lp.index_select(0, torch::tensor(kv.second).to(Lp.device())), relative));
    if (!terms.empty()) out.var_term = lambda * torch::stack(terms).mean();
  } else if (out.present > 1) {
    out.var_term = lambda * spread(Lp, relative);
  }
  out.total = out.mean_term + out.var_term;
  auto gl = torch::full({w.size(1)}, std::numeric_limits<double>::quiet_NaN(), l.options().requires_grad(false));
  gl.index_copy_(0, present, Lp.detach());
  out.group_losses = gl;
  return out;
}

at::Tensor group_conditions(const at::Tensor& W, const at::Tensor& labels) {
  if (W.dim() != 2 || labels.dim() != 1 || labels.size(0) != W.size(0))
    throw std::invalid_argument("group conditions: W must be [N, G] and labels [N]");
  auto lab = labels.to(torch::kInt64);
  auto out = torch::full({W.size(1)}, -1, torch::kInt64);
  for (int64_t g = 0; g < W.size(1); ++g) {
    auto rows = (W.select(1, g) > 0).nonzero().squeeze(1);
    if (rows.numel() == 0) continue;
    auto lg = lab.index_select(0, rows);
    const int64_t first = lg[0].item<int64_t>();
    if ((lg == first).all().item<bool>()) out[g] = first;
  }
  return out;
}

}  // namespace invdiff
