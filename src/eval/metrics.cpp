#include "eval/metrics.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace invdiff {

namespace {

at::Tensor as_f64_matrix(const at::Tensor& f, const char* what) {
  if (!f.defined() || f.dim() != 2)
    throw std::invalid_argument(std::string(what) + ": features must be a [N, D] matrix");
  return f.detach().to(torch::kCPU, torch::kFloat64).contiguous();
}

void check_same_dim(const at::Tensor& a, const at::Tensor& b, const char* what) {
  if (a.size(1) != b.size(1))
    throw std::invalid_argument(std::string(what) + ": feature sets differ in dimension (" + std::to_string(a.size(1)) +
                                " vs " + std::to_string(b.size(1)) + ")");
}

// Squared distances of a's rows to b's rows, in row chunks so that two 10^4-point sets never
// need a full 10^8-entry matrix at once. `visit(row0, d2_chunk)` sees each chunk.
template <class F>
void for_each_distance_chunk(const at::Tensor& a, const at::Tensor& b, F visit, int64_t chunk = 1024) {
  auto bn = b.pow(2).sum(1).unsqueeze(0);  // [1, Nb]
  for (int64_t i0 = 0; i0 < a.size(0); i0 += chunk) {
    auto ac = a.narrow(0, i0, std::min(chunk, a.size(0) - i0));
    auto d2 = (ac.pow(2).sum(1, true) + bn - 2.0 * ac.matmul(b.t())).clamp_min(0.0);
    visit(i0, d2);
  }
}

// Squared k-NN radii within a set (the point itself excluded).
at::Tensor knn_radii_sq(const at::Tensor& x, int64_t k) {
  const int64_t n = x.size(0);
  if (k < 1) throw std::invalid_argument("precision/recall: k must be >= 1");
  if (n <= k)
    throw std::invalid_argument("precision/recall: need more than k = " + std::to_string(k) + " points per set (got " +
                                std::to_string(n) + ")");
  auto r2 = torch::empty({n}, torch::kFloat64);
  for_each_distance_chunk(x, x, [&](int64_t i0, at::Tensor d2) {
    const int64_t c = d2.size(0);
    auto rows = torch::arange(c, torch::kInt64);
    d2.index_put_({rows, rows + i0}, std::numeric_limits<double>::infinity());
    r2.narrow(0, i0, c).copy_(std::get<0>(d2.kthvalue(k, 1)));
  });
  return r2;
}

// Share of `points` within some ball (centres, squared radii).
double coverage(const at::Tensor& points, const at::Tensor& centres, const at::Tensor& r2) {
  int64_t inside = 0;
  auto r2row = r2.unsqueeze(0);
  for_each_distance_chunk(points, centres, [&](int64_t, const at::Tensor& d2) {
    inside += (d2 <= r2row).any(1).sum().item<int64_t>();
  });
  return static_cast<double>(inside) / static_cast<double>(points.size(0));
}

}  // namespace

GaussianStats gaussian_stats(const at::Tensor& features) {
  auto x = as_f64_matrix(features, "Frechet distance");
  if (x.size(0) < 2)
    throw std::invalid_argument("Frechet distance: need at least 2 feature vectors (got " + std::to_string(x.size(0)) + ")");
  GaussianStats s;
  s.mu = x.mean(0);
  auto xc = x - s.mu;
  s.sigma = xc.t().matmul(xc) / static_cast<double>(x.size(0) - 1);
  return s;
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  if (a.mu.numel() != b.mu.numel())
    throw std::invalid_argument("Frechet distance: feature sets differ in dimension (" + std::to_string(a.mu.numel()) +
                                " vs " + std::to_string(b.mu.numel()) + ")");
  auto s1 = a.sigma.to(torch::kFloat64), s2 = b.sigma.to(torch::kFloat64);
  auto [l1, v1] = at::linalg_eigh(0.5 * (s1 + s1.t()), "L");
  // Tiny negative eigenvalues are rounding noise of a PSD matrix: clamp before the root.
  auto s1_half = v1.matmul(torch::diag(l1.clamp_min(0.0).sqrt())).matmul(v1.t());
  auto m = s1_half.matmul(s2).matmul(s1_half);
  auto tr_sqrt = at::linalg_eigvalsh(0.5 * (m + m.t()), "L").clamp_min(0.0).sqrt().sum().item<double>();
  double mean_term = (a.mu.to(torch::kFloat64) - b.mu.to(torch::kFloat64)).pow(2).sum().item<double>();
  double fd = mean_term + s1.trace().item<double>() + s2.trace().item<double>() - 2.0 * tr_sqrt;
  // Identical sets give ~ -1e-13 from rounding; a distance is never negative.
  return std::max(0.0, fd);
}

double frechet_distance(const at::Tensor& fa, const at::Tensor& fb) {
  return frechet_distance(gaussian_stats(fa), gaussian_stats(fb));
}

double mmd2_unbiased_poly(const at::Tensor& x_in, const at::Tensor& y_in) {
  auto x = as_f64_matrix(x_in, "KID"), y = as_f64_matrix(y_in, "KID");
  check_same_dim(x, y, "KID");
  const double m = static_cast<double>(x.size(0)), n = static_cast<double>(y.size(0));
  if (m < 2 || n < 2) throw std::invalid_argument("KID: need at least 2 feature vectors per set");
  const double d = static_cast<double>(x.size(1));
  auto kern = [d](const at::Tensor& a, const at::Tensor& b) { return (a.matmul(b.t()) / d + 1.0).pow(3); };
  auto kxx = kern(x, x), kyy = kern(y, y), kxy = kern(x, y);
  // Unbiased: the diagonal k(x_i, x_i) is left out of the within-set sums.
  double sxx = (kxx.sum() - kxx.diagonal().sum()).item<double>() / (m * (m - 1));
  double syy = (kyy.sum() - kyy.diagonal().sum()).item<double>() / (n * (n - 1));
  double sxy = kxy.sum().item<double>() / (m * n);
  return sxx + syy - 2.0 * sxy;
}

KidResult kernel_inception_distance(const at::Tensor& real_in, const at::Tensor& fake_in, const KidOptions& opt) {
  auto real = as_f64_matrix(real_in, "KID"), fake = as_f64_matrix(fake_in, "KID");
  check_same_dim(real, fake, "KID");
  if (opt.subsets < 1 || opt.subset_size < 2) throw std::invalid_argument("KID: need subsets >= 1 and subset size >= 2");
  KidResult r;
  r.subsets = opt.subsets;
  r.subset_size = std::min({opt.subset_size, real.size(0), fake.size(0)});
  if (r.subset_size < 2) throw std::invalid_argument("KID: need at least 2 feature vectors per set");
  auto gen = at::detail::createCPUGenerator(opt.seed);
  std::vector<double> v;
  for (int64_t s = 0; s < opt.subsets; ++s) {
    auto ir = torch::randperm(real.size(0), gen, torch::TensorOptions().dtype(torch::kInt64)).narrow(0, 0, r.subset_size);
    auto jf = torch::randperm(fake.size(0), gen, torch::TensorOptions().dtype(torch::kInt64)).narrow(0, 0, r.subset_size);
    v.push_back(mmd2_unbiased_poly(real.index_select(0, ir), fake.index_select(0, jf)));
  }
  for (double x : v) r.mean += x;
  r.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - r.mean) * (x - r.mean);
    r.std = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return r;
}

at::Tensor knn_radii(const at::Tensor& features, int64_t k) {
  return knn_radii_sq(as_f64_matrix(features, "precision/recall"), k).sqrt();
}

PrecisionRecall precision_recall(const at::Tensor& real_in, const at::Tensor& fake_in, int64_t k) {
  auto real = as_f64_matrix(real_in, "precision/recall"), fake = as_f64_matrix(fake_in, "precision/recall");
  check_same_dim(real, fake, "precision/recall");
  PrecisionRecall pr;
  pr.precision = coverage(fake, real, knn_radii_sq(real, k));
  pr.recall = coverage(real, fake, knn_radii_sq(fake, k));
  return pr;
}

ClassificationReport classification_report(const at::Tensor& predicted, const at::Tensor& target, int64_t K) {
  auto p = predicted.detach().to(torch::kCPU, torch::kInt64).flatten();
  auto t = target.detach().to(torch::kCPU, torch::kInt64).flatten();
  if (p.numel() != t.numel()) throw std::invalid_argument("classification report: one prediction per target needed");
  if (p.numel() == 0) throw std::invalid_argument("classification report: no samples");
  if (K < 1 || p.min().item<int64_t>() < 0 || p.max().item<int64_t>() >= K || t.min().item<int64_t>() < 0 ||
      t.max().item<int64_t>() >= K)
    throw std::invalid_argument("classification report: class index outside [0, " + std::to_string(K) + ")");
  auto conf = torch::bincount(t * K + p, {}, K * K).view({K, K}).to(torch::kFloat64);  // rows: truth
  auto tp = conf.diagonal(), rows = conf.sum(1), cols = conf.sum(0);
  ClassificationReport r;
  r.accuracy = tp.sum().item<double>() / static_cast<double>(p.numel());
  int64_t present = 0;
  for (int64_t k = 0; k < K; ++k) {
    double denom = rows[k].item<double>() + cols[k].item<double>();
    // F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (support + predicted count).
    double f1 = denom > 0 ? 2.0 * tp[k].item<double>() / denom : 0.0;
    r.f1.push_back(f1);
    r.support.push_back(static_cast<int64_t>(rows[k].item<double>()));
    if (denom > 0) {
      r.macro_f1 += f1;
      ++present;
    }
  }
  if (present > 0) r.macro_f1 /= static_cast<double>(present);
  return r;
}

FaithfulnessReport faithfulness(const at::Tensor& predicted, const at::Tensor& prompt, int64_t P) {
  auto p = predicted.detach().to(torch::kCPU, torch::kInt64).flatten();
  auto y = prompt.detach().to(torch::kCPU, torch::kInt64).flatten();
  if (p.numel() != y.numel()) throw std::invalid_argument("faithfulness: one prediction per image needed");
  if (p.numel() == 0) throw std::invalid_argument("faithfulness: no images");
  auto hit = (p == y).to(torch::kFloat64);
  FaithfulnessReport r;
  r.overall = hit.mean().item<double>();
  for (int64_t c = 0; c < P; ++c) {
    auto mask = y == c;
    int64_t n = mask.sum().item<int64_t>();
    r.per_prompt.push_back(n > 0 ? hit.masked_select(mask).mean().item<double>()
                                 : std::numeric_limits<double>::quiet_NaN());
  }
  return r;
}

}  // namespace invdiff
