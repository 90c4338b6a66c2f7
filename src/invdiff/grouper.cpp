#include "invdiff/grouper.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "core/progress.h"

namespace invdiff {

at::Tensor group_means(const at::Tensor& W, const at::Tensor& l) {
  // clamp_min guards a group whose weights all reached 0 (its mean is then 0, not NaN); it
  // changes nothing while the group holds any weight above 1e-12.
  return (l.unsqueeze(1) * W).sum(0) / W.sum(0).clamp_min(1e-12);
}

at::Tensor grouper_objective(const at::Tensor& W, const at::Tensor& l, double c) {
  if (W.dim() != 2 || l.dim() != 1 || W.size(0) != l.size(0))
    throw std::invalid_argument("grouper: W must be [N, G] and l [N]");
  if (W.size(1) < 2) throw std::invalid_argument("grouper: needs at least 2 groups");
  auto J = -group_means(W, l).std(/*unbiased=*/true);
  if (c != 0.0) J = J - c * (l.unsqueeze(1) * W).min();
  return J;
}

void project_rows_to_simplex_(at::Tensor& W) {
  torch::NoGradGuard ng;
  W.clamp_min_(0.0);
  auto sums = W.sum(1, true);
  auto zero = sums <= 0;
  W.copy_(torch::where(zero, torch::full_like(W, 1.0 / static_cast<double>(W.size(1))),
                       W / torch::where(zero, torch::ones_like(sums), sums)));
}

at::Tensor init_group_weights(int64_t n, int64_t groups, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto W = torch::rand({n, groups}, gen, torch::kFloat64);
  project_rows_to_simplex_(W);
  return W;
}

GrouperResult fit_groups(const at::Tensor& l_in, const GrouperOptions& opt, const at::Tensor& init, bool progress) {
  if (opt.groups < 2) throw std::invalid_argument("grouper: -G must be at least 2");
  if (opt.steps < 0) throw std::invalid_argument("grouper: steps must be >= 0");
  auto l = l_in.to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t N = l.size(0);
  if (N < opt.groups) throw std::invalid_argument("grouper: " + std::to_string(N) + " samples cannot fill " +
                                                  std::to_string(opt.groups) + " groups");
  at::Tensor W0 = init.defined() ? init.to(torch::kCPU, torch::kFloat64).clone() : init_group_weights(N, opt.groups, opt.seed);
  if (W0.size(0) != N || W0.size(1) != opt.groups) throw std::invalid_argument("grouper: init must be [N, G]");
  auto W = W0.set_requires_grad(true);
  torch::optim::Adam adam({W}, torch::optim::AdamOptions(opt.lr));
  ProgressBar bar("grouper", opt.steps, 0, progress);
  for (int64_t s = 0; s < opt.steps; ++s) {
    adam.zero_grad();
    auto J = grouper_objective(W, l, opt.c);
    J.backward();
    adam.step();
    auto Wd = W.detach();  // shares storage: the projection updates the parameter in place
    project_rows_to_simplex_(Wd);
    if ((s + 1) % 25 == 0 || s + 1 == opt.steps) {
      char post[48];
      std::snprintf(post, sizeof post, "J %.5f", J.item<double>());
      bar.update(s + 1, post);
    }
  }
  bar.finish();
  GrouperResult r;
  r.W = W.detach().clone();
  r.hard = r.W.argmax(1);
  r.objective = grouper_objective(r.W, l, opt.c).item<double>();
  r.spread = group_means(r.W, l).std(true).item<double>();
  return r;
}

namespace {
struct OtsuSplit {
  double threshold;
  double between;  // n_lo n_hi (m_hi - m_lo)^2 / n^2: the between-group variance
  double total;    // population variance
};
OtsuSplit otsu_split(std::vector<double> s) {
  if (s.empty()) throw std::invalid_argument("otsu: no scores");
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  std::vector<double> prefix(n + 1, 0.0);
  for (size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + s[i];
  OtsuSplit out{s.back(), 0.0, 0.0};
  double best = -1;
  for (size_t k = 1; k < n; ++k) {  // low = s[0..k), high = s[k..n)
    if (s[k] == s[k - 1]) continue;  // a threshold cannot split equal scores
    double lo = static_cast<double>(k), hi = static_cast<double>(n - k);
    double m_lo = prefix[k] / lo, m_hi = (prefix[n] - prefix[k]) / hi;
    double between = lo * hi * (m_hi - m_lo) * (m_hi - m_lo);
    if (between > best) {
      best = between;
      out.threshold = 0.5 * (s[k - 1] + s[k]);
    }
  }
  const double mean = prefix[n] / n;
  for (double v : s) out.total += (v - mean) * (v - mean);
  out.total /= n;
  out.between = best > 0 ? best / (static_cast<double>(n) * n) : 0.0;
  return out;
}
}  // namespace

double otsu_threshold(std::vector<double> s) { return otsu_split(std::move(s)).threshold; }

double otsu_explained_share(std::vector<double> s) {
  auto o = otsu_split(std::move(s));
  return o.total > 0 ? o.between / o.total : 0.0;
}

at::Tensor otsu_groups(const at::Tensor& l_in, const at::Tensor& labels_in) {
  auto l = l_in.to(torch::kCPU, torch::kFloat64).contiguous();
  auto labels = labels_in.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t N = l.size(0);
  if (labels.size(0) != N) throw std::invalid_argument("otsu: scores and labels differ in length");
  const double* lp = l.data_ptr<double>();
  const int64_t* yp = labels.data_ptr<int64_t>();
  std::map<int64_t, std::vector<double>> by;
  for (int64_t i = 0; i < N; ++i) by[yp[i]].push_back(lp[i]);
  std::map<int64_t, double> thr;
  for (auto& kv : by) thr[kv.first] = otsu_threshold(kv.second);
  auto W = torch::zeros({N, 2}, torch::kFloat64);
  auto acc = W.accessor<double, 2>();
  for (int64_t i = 0; i < N; ++i) acc[i][lp[i] > thr[yp[i]] ? 1 : 0] = 1.0;
  return W;
}

}  // namespace invdiff
