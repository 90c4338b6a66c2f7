#include "invdiff/score.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "core/hash.h"
#include "core/progress.h"
#include "data/image_io.h"
#include "invdiff/grouper.h"

namespace invdiff {

std::vector<int> default_score_timesteps(int T, int M) {
  if (M < 1) throw std::invalid_argument("scores: the number of timesteps must be >= 1");
  std::vector<int> ts;
  for (int m = 0; m < M; ++m) ts.push_back(static_cast<int>((m + 0.5) * T / M));
  return ts;
}

at::Tensor standardise_by_condition(const at::Tensor& raw_in, const at::Tensor& labels_in) {
  auto raw = raw_in.to(torch::kFloat64);
  auto labels = labels_in.to(torch::kCPU, torch::kInt64);
  auto z = torch::zeros_like(raw);
  std::set<int64_t> uniq;
  auto acc = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < acc.size(0); ++i) uniq.insert(acc[i]);
  for (int64_t k : uniq) {
    auto idx = (labels == k).nonzero().squeeze(1);
    if (idx.size(0) < 2) continue;
    auto block = raw.index_select(0, idx);
    auto mean = block.mean(0, true);
    auto sd = block.std(0, /*unbiased=*/true, /*keepdim=*/true);
    // Zero spread: every sample of the condition scored alike; no evidence either way.
    auto safe = torch::where(sd > 0, sd, torch::ones_like(sd));
    auto zb = torch::where(sd > 0, (block - mean) / safe, torch::zeros_like(block));
    z.index_copy_(0, idx, zb);
  }
  return z;
}

int64_t scoring_batch(const ScoreOptions& opt, int64_t height, int64_t width) {
  if (opt.batch_size < 0) throw std::invalid_argument("scores: the batch size must be >= 0 (0: by image size)");
  if (opt.batch_size > 0) return opt.batch_size;
  return std::clamp<int64_t>((int64_t{1} << 20) / std::max<int64_t>(1, height * width), 8, 512);
}

SampleScores compute_scores(const EpsFn& eps_fn, const NoiseSchedule& sch, const at::Tensor& images,
                            const at::Tensor& labels, const std::vector<std::string>& keys, const ScoreOptions& opt,
                            const c10::Device& device, bool progress, const EpsHiddenFn& hidden_fn) {
  torch::NoGradGuard ng;
  const int64_t N = images.size(0);
  if (N == 0) throw std::invalid_argument("scores: no images");
  if (labels.size(0) != N || static_cast<int64_t>(keys.size()) != N)
    throw std::invalid_argument("scores: images, labels and keys differ in length");
  SampleScores out;
  out.method = opt.method;
  const bool multi = opt.method == ScoreMethod::MultiT;
  if (opt.residual_pool < 0 || opt.feature_pool < 0)
    throw std::invalid_argument("scores: the residual pool sizes must be >= 0");
  if (opt.hidden_features && !hidden_fn)
    throw std::invalid_argument("scores: this model exposes no bottleneck activations (hidden features need a base "
                                "model, not a guided one)");
  if (multi) {
    out.timesteps = opt.timesteps.empty() ? default_score_timesteps(sch.T(), opt.num_timesteps) : opt.timesteps;
    for (int t : out.timesteps)
      if (t < 0 || t >= sch.T())
        throw std::invalid_argument("scores: timestep " + std::to_string(t) + " is outside [0, " +
                                    std::to_string(sch.T()) + ")");
  }
  const int64_t M = multi ? static_cast<int64_t>(out.timesteps.size()) : 1;
  const auto img_shape = images.sizes().slice(1).vec();
  std::vector<int64_t> noise_shape{M};
  noise_shape.insert(noise_shape.end(), img_shape.begin(), img_shape.end());

  auto raw = torch::empty({N, M}, torch::kFloat64);
  const int64_t P = opt.feature_pool;
  if (P > 0) out.features = torch::empty({N, images.size(1) * P * P}, torch::kFloat64);
  auto tdraw = torch::empty({N}, torch::kInt64);
  auto t_cols = torch::tensor(std::vector<int64_t>(out.timesteps.begin(), out.timesteps.end()), torch::kInt64);
  // Each network call sees chunk * M images: all timesteps of `chunk` samples.
  const int64_t chunk = std::max<int64_t>(1, scoring_batch(opt, images.size(2), images.size(3)) / M);
  ProgressBar bar("scores (" + enum_name(opt.method) + ")", N, 0, progress);
  for (int64_t s = 0; s < N; s += chunk) {
    const int64_t b = std::min(chunk, N - s);
    std::vector<at::Tensor> eps_list, t_list;
    for (int64_t i = s; i < s + b; ++i) {
      auto gen = at::detail::createCPUGenerator(keyed_seed(opt.seed, keys[i]));
      if (multi) {
        t_list.push_back(t_cols);
      } else {
        auto t = torch::randint(0, sch.T(), {1}, gen, torch::kInt64);
        tdraw[i] = t[0];
        t_list.push_back(t);
      }
      eps_list.push_back(torch::randn(noise_shape, gen, torch::kFloat32));
    }
    auto eps = torch::cat(eps_list);  // [b*M, C, H, W], sample-major
    auto t = torch::cat(t_list);
    auto x0 = to_unit_range(images.slice(0, s, s + b)).repeat_interleave(M, 0);
    auto y = labels.slice(0, s, s + b).repeat_interleave(M, 0);
    auto xt = sch.q_sample(x0, t, eps);
    at::Tensor h;
    auto pred = (opt.hidden_features ? hidden_fn(xt.to(device), t.to(device), y.to(device), &h)
                                     : eps_fn(xt.to(device), t.to(device), y.to(device)))
                    .to(torch::kCPU);
    if (opt.hidden_features) {
      if (!h.defined() || h.dim() != 4 || h.size(0) != b * M)
        throw std::runtime_error("scores: the model returned no bottleneck activation of shape [B, C, h, w]");
      auto hm = h.mean({2, 3}).to(torch::kCPU, torch::kFloat64).view({b, M, -1}).mean(1);
      if (!out.hidden.defined()) out.hidden = torch::empty({N, hm.size(1)}, torch::kFloat64);
      out.hidden.slice(0, s, s + b).copy_(hm);
    }
    const auto resid = pred - eps;
    const auto band = opt.residual_pool > 0
                          ? torch::adaptive_avg_pool2d(resid, {opt.residual_pool, opt.residual_pool})
                          : resid;
    raw.slice(0, s, s + b).copy_(band.pow(2).flatten(1).mean(1).to(torch::kFloat64).view({b, M}));
    if (P > 0) {
      auto f = torch::adaptive_avg_pool2d(resid, {P, P}).reshape({b, M, -1}).mean(1);
      out.features.slice(0, s, s + b).copy_(f.to(torch::kFloat64));
    }
    bar.update(s + b);
  }
  bar.finish();
  out.raw = raw;
  if (multi) {
    out.z = opt.per_condition ? standardise_by_condition(raw, labels)
                              : standardise_by_condition(raw, torch::zeros({N}, torch::kInt64));
    auto l = out.z.mean(1);
    out.score = l - l.min() + 1.0;  // positive, so the grouper's optional min term is meaningful
  } else {
    out.t = tdraw;
    out.score = raw.select(1, 0).clone();  // the official estimator: the raw loss
  }
  return out;
}

int select_timestep_otsu(SampleScores& s, const at::Tensor& labels_in) {
  if (s.method != ScoreMethod::MultiT || !s.z.defined())
    throw std::invalid_argument("--select-timestep needs multi-t scores");
  auto z = s.z.to(torch::kFloat64).contiguous();
  auto labels = labels_in.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t N = z.size(0), M = z.size(1);
  auto za = z.accessor<double, 2>();
  auto ya = labels.accessor<int64_t, 1>();
  s.selection_criterion.assign(M, 0.0);
  int best = 0;
  for (int64_t m = 0; m < M; ++m) {
    std::map<int64_t, std::vector<double>> by;
    for (int64_t i = 0; i < N; ++i) by[ya[i]].push_back(za[i][m]);
    double sum = 0;
    for (auto& kv : by) sum += otsu_explained_share(std::move(kv.second));
    s.selection_criterion[m] = sum / static_cast<double>(by.size());
    if (s.selection_criterion[m] > s.selection_criterion[best]) best = static_cast<int>(m);
  }
  auto col = z.select(1, best);
  s.score = col - col.min() + 1.0;
  s.selected_timestep = s.timesteps.at(best);
  return best;
}

std::vector<int> refine_timesteps(int t, int K, int T, int M) {
  if (K < 1 || M < 1 || T < 1 || t < 0 || t >= T)
    throw std::invalid_argument("refine_timesteps: need K, M >= 1 and t in [0, T)");
  const int step = std::max(1, T / (8 * M));
  std::vector<int> out;
  for (int k = 0; k < K; ++k) {
    int tk = t + (2 * k - (K - 1)) * step / 2;
    tk = std::min(T - 1, std::max(0, tk));
    if (std::find(out.begin(), out.end(), tk) == out.end()) out.push_back(tk);
  }
  return out;
}

}  // namespace invdiff
