#include "invdiff/cluster_groups.h"

#include <torch/torch.h>

#include <set>
#include <stdexcept>

#include "invdiff/grouper.h"

namespace invdiff {

namespace {
// Lloyd's 2-means on F [n, D] from the boolean start `high` [n]; returns the final assignment.
// A step that would empty a side (e.g. all features equal) is not taken: the previous split stays.
at::Tensor two_means(const at::Tensor& F, at::Tensor high, int max_iter) {
  for (int it = 0; it < max_iter; ++it) {
    auto n_hi = high.sum().item<int64_t>();
    if (n_hi == 0 || n_hi == high.size(0)) break;
    auto c_hi = F.index({high}).mean(0);
    auto c_lo = F.index({high.logical_not()}).mean(0);
    auto next = (F - c_hi).pow(2).sum(1) < (F - c_lo).pow(2).sum(1);
    const auto n_next = next.sum().item<int64_t>();
    if (n_next == 0 || n_next == next.size(0) || next.equal(high)) break;  // keep a two-sided split
    high = next;
  }
  return high;
}
}  // namespace

at::Tensor cluster_groups(const at::Tensor& features_in, const at::Tensor& score_in, const at::Tensor& labels_in,
                          const ClusterOptions& opt) {
  auto F = features_in.to(torch::kCPU, torch::kFloat64);
  auto score = score_in.to(torch::kCPU, torch::kFloat64).contiguous();
  auto labels = labels_in.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t N = score.size(0);
  if (F.dim() != 2 || F.size(0) != N || labels.size(0) != N)
    throw std::invalid_argument("cluster grouper: features [N, D], scores [N] and labels [N] must agree in N");
  if (!torch::isfinite(F).all().item<bool>())
    throw std::invalid_argument("cluster grouper: the residual features hold NaN or inf");
  const int64_t D = F.size(1);
  auto W = torch::zeros({N, 2}, torch::kFloat64);
  W.select(1, 0).fill_(1.0);
  const auto start = otsu_groups(score, labels).select(1, 1) > 0.5;  // the score's split, per condition
  std::set<int64_t> conds(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + N);
  for (int64_t k : conds) {
    auto idx = (labels == k).nonzero().squeeze(1);
    const int64_t n = idx.size(0);
    if (n < 2) continue;
    auto s = score.index_select(0, idx);
    auto high = start.index_select(0, idx);
    auto Fc = F.index_select(0, idx);
    Fc = Fc - Fc.mean(0);
    auto low = Fc.index({high.logical_not()});
    if (opt.whiten && low.size(0) > D) {
      // x -> L^-1 x with L L^T the low side's covariance (+ a ridge of 1e-6 of its mean variance).
      auto C = torch::cov(low.t()).reshape({D, D});  // cov of one variable is a scalar
      C = C + torch::eye(D, torch::kFloat64) * (1e-6 * C.diagonal().mean().item<double>() + 1e-300);
      auto L = torch::linalg_cholesky(C);
      Fc = torch::linalg_solve_triangular(L, Fc.t(), /*upper=*/false).t();
    }
    high = two_means(Fc, high, opt.max_iter);
    // The side with the higher mean score is "high" (2-means may swap which side holds what).
    auto n_hi = high.sum().item<int64_t>();
    if (n_hi > 0 && n_hi < n && s.index({high}).mean().item<double>() < s.index({high.logical_not()}).mean().item<double>())
      high = high.logical_not();
    auto hi_idx = idx.index({high});
    W.index_put_({hi_idx, 0}, 0.0);
    W.index_put_({hi_idx, 1}, 1.0);
  }
  return W;
}

}  // namespace invdiff
