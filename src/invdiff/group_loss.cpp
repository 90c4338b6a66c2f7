#include "invdiff/group_loss.h"

#include <torch/torch.h>

#include <limits>
#include <stdexcept>

namespace invdiff {

GroupObjective group_objective(const at::Tensor& l, const at::Tensor& w, double lambda, bool relative) {
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
  if (out.present > 1) {
    auto var = Lp.var(/*unbiased=*/true);
    out.var_term = lambda * (relative ? var / out.mean_term.pow(2).clamp_min(1e-12) : var);
  } else {
    out.var_term = torch::zeros({}, l.options());
  }
  out.total = out.mean_term + out.var_term;
  auto gl = torch::full({w.size(1)}, std::numeric_limits<double>::quiet_NaN(), l.options().requires_grad(false));
  gl.index_copy_(0, present, Lp.detach());
  out.group_losses = gl;
  return out;
}

}  // namespace invdiff
