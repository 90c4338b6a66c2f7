#include "invdiff/cluster_groups.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "invdiff/grouper.h"

namespace invdiff {

namespace {
at::Tensor counts_of(const at::Tensor& assign, int64_t k) { return torch::bincount(assign, {}, k); }

// [k, D] cluster means of F [n, D] under assign [n] (every cluster non-empty).
at::Tensor centroids(const at::Tensor& F, const at::Tensor& assign, int64_t k) {
  auto C = torch::zeros({k, F.size(1)}, F.options()).index_add_(0, assign, F);
  return C / counts_of(assign, k).to(F.scalar_type()).unsqueeze(1);
}

// [n, k] squared distances, one centroid at a time (ties go to the lower index).
at::Tensor sq_dist(const at::Tensor& F, const at::Tensor& C) {
  std::vector<at::Tensor> d;
  for (int64_t j = 0; j < C.size(0); ++j) d.push_back((F - C[j]).pow(2).sum(1));
  return torch::stack(d, 1);
}

double sse_of(const at::Tensor& F, const at::Tensor& assign, int64_t k) {
  return (F - centroids(F, assign, k).index_select(0, assign)).pow(2).sum().item<double>();
}

// Lloyd's k-means on F from assign (int64 in 0..k-1, every cluster non-empty). A step that would
// empty a cluster is not taken: the previous assignment stays.
at::Tensor lloyd(const at::Tensor& F, at::Tensor assign, int64_t k, int max_iter) {
  for (int it = 0; it < max_iter; ++it) {
    auto next = sq_dist(F, centroids(F, assign, k)).argmin(1);
    if ((counts_of(next, k) == 0).any().item<bool>() || next.equal(assign)) break;
    assign = next;
  }
  return assign;
}

// 2-means of X's rows [n, D] (int64 sides): cut at the mean along the first principal direction,
// then Lloyd. Undefined when the rows cannot be cut (fewer than 2, or all equal).
at::Tensor two_means(const at::Tensor& X, int max_iter) {
  if (X.size(0) < 2) return {};
  auto Xc = X - X.mean(0);
  auto [U, S, Vh] = torch::linalg_svd(Xc, /*full_matrices=*/false);
  if (S[0].item<double>() <= 0) return {};
  auto side = (Xc.matmul(Vh[0]) > 0).to(torch::kInt64);
  const int64_t n1 = side.sum().item<int64_t>();
  if (n1 == 0 || n1 == X.size(0)) return {};
  return lloyd(Xc, side, 2, max_iter);
}

// The best (k + 1)-clustering reachable by bisecting one cluster of `assign`: cluster j is cut
// by its own 2-means, then Lloyd runs on all k + 1 clusters; the candidate with the lowest SSE
// wins. Undefined when no cluster can be cut (every cluster a single point or all its rows equal).
at::Tensor bisect(const at::Tensor& F, const at::Tensor& assign, int64_t k, int max_iter) {
  at::Tensor best;
  double best_sse = INFINITY;
  for (int64_t j = 0; j < k; ++j) {
    auto idx = (assign == j).nonzero().squeeze(1);
    auto local = two_means(F.index_select(0, idx), max_iter);
    if (!local.defined()) continue;
    auto cand = assign.clone();
    cand.index_put_({idx.index({local == 1})}, k);
    cand = lloyd(F, cand, k + 1, max_iter);
    const double s = sse_of(F, cand, k + 1);
    if (s < best_sse) best_sse = s, best = cand;
  }
  return best;
}

// x -> L^-1 x for rows of X with L L^T = C (+ a ridge of 1e-6 of its mean variance).
at::Tensor whiten_by(const at::Tensor& X, at::Tensor C) {
  const int64_t D = X.size(1);
  C = C.reshape({D, D});  // cov of one variable is a scalar
  C = C + torch::eye(D, torch::kFloat64) * (1e-6 * C.diagonal().mean().item<double>() + 1e-300);
  return torch::linalg_solve_triangular(torch::linalg_cholesky(C), X.t(), /*upper=*/false).t();
}

// MCD C-steps: the mean and covariance of the h = 3/4 of rows nearest the current centre in
// Mahalanobis distance, repeated until that subset stops changing (at most 20 times). A minority
// cluster of up to a quarter of the rows does not enter the estimate.
std::pair<at::Tensor, at::Tensor> robust_location_scatter(const at::Tensor& X) {
  const int64_t n = X.size(0), h = std::max<int64_t>(X.size(1) + 1, (3 * n + 3) / 4);
  auto mu = X.mean(0);
  auto C = torch::cov(X.t());
  at::Tensor subset;
  for (int it = 0; it < 20 && h < n; ++it) {
    auto d = whiten_by(X - mu, C).pow(2).sum(1);
    auto next = std::get<0>(torch::sort(std::get<1>(d.topk(h, 0, /*largest=*/false))));
    if (subset.defined() && next.equal(subset)) break;
    subset = next;
    auto Xs = X.index_select(0, subset);
    mu = Xs.mean(0);
    C = torch::cov(Xs.t());
  }
  return {mu, C};
}
}  // namespace

double cluster_separation(const at::Tensor& F, const at::Tensor& assign, int64_t k) {
  double least = INFINITY;
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = a + 1; b < k; ++b) {
      auto ia = (assign == a).nonzero().squeeze(1), ib = (assign == b).nonzero().squeeze(1);
      if (ia.size(0) < 2 || ib.size(0) < 2) continue;
      auto Fa = F.index_select(0, ia), Fb = F.index_select(0, ib);
      auto u = Fb.mean(0) - Fa.mean(0);
      const double gap = u.norm().item<double>();
      if (gap <= 0) { least = 0; continue; }
      u = u / gap;
      auto pa = Fa.matmul(u), pb = Fb.matmul(u);
      const double na = static_cast<double>(ia.size(0)), nb = static_cast<double>(ib.size(0));
      const double pooled = ((na - 1) * pa.var().item<double>() + (nb - 1) * pb.var().item<double>()) / (na + nb - 2);
      least = std::min(least, pooled > 0 ? gap / std::sqrt(pooled) : INFINITY);
    }
  return least;
}

double gaussian_null_separation(const at::Tensor& F, uint64_t seed, int max_iter) {
  const int64_t n = F.size(0), D = F.size(1);
  if (n < 4) return std::nan("");
  auto X = F - F.mean(0);
  auto C = torch::cov(X.t()).reshape({D, D});
  C = C + torch::eye(D, torch::kFloat64) * (1e-9 * C.diagonal().mean().item<double>() + 1e-300);
  auto gen = at::detail::createCPUGenerator(seed);
  auto Z = at::randn({n, D}, gen, torch::kFloat64).matmul(torch::linalg_cholesky(C).t());
  // The same 2-means as the data's k = 2: cut at the mean along the first principal direction.
  auto side = two_means(Z, max_iter);
  if (!side.defined()) return std::nan("");
  return cluster_separation(Z - Z.mean(0), side, 2);
}

double cluster_bic(const at::Tensor& F, const at::Tensor& assign, int64_t k) {
  const double n = static_cast<double>(F.size(0)), D = static_cast<double>(F.size(1));
  const double s2 = std::max(sse_of(F, assign, k) / (n * D), 1e-300);
  double ll = -n * D / 2 * (std::log(2 * M_PI * s2) + 1);
  auto counts = counts_of(assign, k).to(torch::kFloat64);
  for (int64_t j = 0; j < k; ++j) {
    const double nj = counts[j].item<double>();
    if (nj > 0) ll += nj * std::log(nj / n);
  }
  const double p = (k - 1) + k * D + 1;
  return ll - p / 2 * std::log(n);
}

namespace {
// The split rule (KChoice::Split) on one condition's features Fc [n, D]; `first` its 2-means
// split (undefined when it has none). A split counts when its separation is kMinSeparationRatio
// times its one-Gaussian null's and each side holds min_child rows; passing splits are taken
// most distinct first, a cluster whose split fails is final. Writes to facts: "splits" (every
// split offered) and the first split's "separation" and "null_separation" (the verdict's test).
at::Tensor split_until_null(const at::Tensor& Fc, const at::Tensor& first, int64_t k_top, uint64_t seed,
                            int max_iter, nlohmann::json& facts) {
  const int64_t n = Fc.size(0);
  const int64_t min_child = std::max<int64_t>(4, (n + 49) / 50);  // 2 % of the condition
  struct Offer {
    at::Tensor idx, local;  // the cluster's rows; their sides (undefined: cannot split)
    double ratio = 0;
    bool passes = false;
  };
  auto& splits = facts["splits"] = nlohmann::json::array();
  // The split of cluster `cluster` (rows idx): the given one for the whole condition, else its own 2-means.
  auto offer = [&](const at::Tensor& idx, int64_t cluster, const at::Tensor* given) {
    auto sub = Fc.index_select(0, idx);
    Offer o{idx, given ? *given : two_means(sub, max_iter)};
    if (!o.local.defined()) return o;
    const int64_t n1 = o.local.sum().item<int64_t>(), n0 = idx.size(0) - n1;
    const double sep = cluster_separation(sub, o.local, 2);
    const double null = gaussian_null_separation(sub, seed + 100003 * static_cast<uint64_t>(splits.size()), max_iter);
    o.ratio = sep / null;
    o.passes = std::isfinite(null) && null > 0 && o.ratio >= kMinSeparationRatio && std::min(n0, n1) >= min_child;
    if (splits.empty()) facts["separation"] = sep, facts["null_separation"] = null;
    splits.push_back({{"cluster", cluster}, {"rows", idx.size(0)}, {"sizes", {n0, n1}}, {"separation_over_null", o.ratio},
                      {"kept", o.passes}});
    return o;
  };
  auto assign = torch::zeros({n}, torch::kInt64);
  std::vector<Offer> offers{offer(torch::arange(n, torch::kInt64), 0, &first)};
  for (int64_t k = 1; k < k_top; ++k) {
    int64_t best = -1;
    for (int64_t j = 0; j < k; ++j)
      if (offers[j].passes && (best < 0 || offers[j].ratio > offers[best].ratio)) best = j;
    if (best < 0) break;
    const Offer o = offers[best];
    auto move = o.idx.index({o.local == 1});
    assign.index_put_({move}, k);
    offers[best] = offer(o.idx.index({o.local == 0}), best, nullptr);
    offers.push_back(offer(move, k, nullptr));
  }
  return assign;
}
}  // namespace

ClusterResult cluster_groups(const at::Tensor& features_in, const at::Tensor& score_in, const at::Tensor& labels_in,
                             const ClusterOptions& opt) {
  auto F = features_in.to(torch::kCPU, torch::kFloat64);
  auto score = score_in.to(torch::kCPU, torch::kFloat64).contiguous();
  auto labels = labels_in.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t N = score.size(0);
  if (F.dim() != 2 || F.size(0) != N || labels.size(0) != N)
    throw std::invalid_argument("cluster grouper: features [N, D], scores [N] and labels [N] must agree in N");
  if (!torch::isfinite(F).all().item<bool>())
    throw std::invalid_argument("cluster grouper: the features hold NaN or inf");
  if (opt.clusters < 0 || opt.max_clusters < 1 || (opt.clusters == 0 && opt.max_clusters > 64) || opt.clusters > 64)
    throw std::invalid_argument("cluster grouper: clusters must be 0 (chosen) or 1..64, max clusters 1..64");
  const int64_t D = F.size(1);
  const int64_t k_top = opt.clusters > 0 ? opt.clusters : opt.max_clusters;
  auto col = torch::zeros({N}, torch::kInt64);  // each row's column (score rank within its condition)
  int64_t K = 1;
  ClusterResult out;
  out.per_condition = nlohmann::json::array();
  const auto start = otsu_groups(score, labels).select(1, 1) > 0.5;  // the score's split, per condition
  std::set<int64_t> conds(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + N);
  for (int64_t c : conds) {
    auto idx = (labels == c).nonzero().squeeze(1);
    const int64_t n = idx.size(0);
    nlohmann::json facts{{"label", c}, {"n", n}};
    if (n < 2) {
      facts["k"] = 1;
      out.per_condition.push_back(facts);
      continue;
    }
    auto s = score.index_select(0, idx);
    auto high = start.index_select(0, idx);
    auto Fc = F.index_select(0, idx);
    at::Tensor far;  // robust: the start from the rows' distance to the robust centre
    if (opt.whiten && opt.robust && n > D + 1) {
      auto [mu, C] = robust_location_scatter(Fc);
      Fc = whiten_by(Fc - mu, C);
      auto d = Fc.pow(2).sum(1);
      far = otsu_groups(d, torch::zeros({n}, torch::kInt64)).select(1, 1) > 0.5;
    } else {
      Fc = Fc - Fc.mean(0);
      auto low = Fc.index({high.logical_not()});
      if (opt.whiten && low.size(0) > D) Fc = whiten_by(Fc, torch::cov(low.t()));  // cov of one variable is a scalar
    }
    // Every k from 1 up: k = 1 the whole condition, k = 2 the score's split refined by 2-means,
    // then bisections. (The two-sided start can be one-sided only when all scores are equal.)
    std::vector<at::Tensor> by_k{torch::zeros({n}, torch::kInt64)};
    auto two = high.to(torch::kInt64);
    const int64_t n_hi = two.sum().item<int64_t>();
    if (k_top >= 2 && n_hi > 0 && n_hi < n) by_k.push_back(lloyd(Fc, two, 2, opt.max_iter));
    if (k_top >= 2 && far.defined()) {
      const int64_t n_far = far.sum().item<int64_t>();
      if (n_far > 0 && n_far < n) {
        auto alt = lloyd(Fc, far.to(torch::kInt64), 2, opt.max_iter);
        if (by_k.size() < 2) by_k.push_back(alt);
        else if (sse_of(Fc, alt, 2) < sse_of(Fc, by_k[1], 2)) by_k[1] = alt;
      }
    }
    const bool split_rule = opt.clusters == 0 && opt.choose_k == KChoice::Split;
    while (!split_rule && static_cast<int64_t>(by_k.size()) >= 2 && static_cast<int64_t>(by_k.size()) < k_top) {
      auto next = bisect(Fc, by_k.back(), static_cast<int64_t>(by_k.size()), opt.max_iter);
      if (!next.defined()) break;
      by_k.push_back(next);
    }
    const uint64_t null_seed = 1000 + static_cast<uint64_t>(c);
    at::Tensor assign;
    if (split_rule) {
      facts["k_choice"] = "split";
      assign = split_until_null(Fc, by_k.size() > 1 ? by_k[1] : at::Tensor(), k_top, null_seed, opt.max_iter, facts);
    } else {
      std::vector<double> bic;
      for (size_t k = 0; k < by_k.size(); ++k) bic.push_back(cluster_bic(Fc, by_k[k], static_cast<int64_t>(k + 1)));
      size_t pick = by_k.size() - 1;  // a fixed k: the largest reached (k itself unless the data cannot split)
      if (opt.clusters == 0)
        for (size_t k = 0; k < bic.size(); ++k)
          if (bic[k] > bic[pick] || (bic[k] == bic[pick] && k < pick)) pick = k;
      assign = by_k[pick];
      facts["bic"] = bic;
    }
    const int64_t k = assign.max().item<int64_t>() + 1;
    // Columns by mean score, lowest first: with k = 2, column 1 ("high") is the side the model
    // serves worse, whichever side 2-means labelled 1.
    std::vector<std::pair<double, int64_t>> rank;
    for (int64_t j = 0; j < k; ++j) rank.push_back({s.index({assign == j}).mean().item<double>(), j});
    std::sort(rank.begin(), rank.end());
    auto remap = torch::empty({k}, torch::kInt64);
    for (int64_t r = 0; r < k; ++r) remap[rank[r].second] = r;
    auto cols = remap.index_select(0, assign);
    col.index_put_({idx}, cols);
    K = std::max(K, k);
    auto sizes = counts_of(cols, k);
    facts["k"] = k;
    facts["sizes"] = std::vector<int64_t>(sizes.data_ptr<int64_t>(), sizes.data_ptr<int64_t>() + k);
    if (!split_rule && k >= 2) {
      // How distinct the clusters are, against what 2-means finds in one Gaussian of the same
      // covariance (about 2.7: any cloud splits): near the null, the split is not a structure.
      // (The split rule wrote its first split's: its test, made also where it kept k = 1.)
      facts["separation"] = cluster_separation(Fc, assign, k);
      facts["null_separation"] = gaussian_null_separation(Fc, null_seed, opt.max_iter);
    }
    out.per_condition.push_back(facts);
  }
  K = std::max<int64_t>(K, opt.clusters);  // a fixed k keeps its columns even where no condition split
  out.W = torch::zeros({N, K}, torch::kFloat64);
  out.W.scatter_(1, col.unsqueeze(1), 1.0);
  if (K == 1) out.names = {"all"};
  else if (K == 2) out.names = {"low", "high"};
  else
    for (int64_t j = 0; j < K; ++j) out.names.push_back("s" + std::to_string(j));
  return out;
}

}  // namespace invdiff
