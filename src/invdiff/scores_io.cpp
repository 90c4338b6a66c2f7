#include "invdiff/scores_io.h"

#include <torch/torch.h>

#include <cstdio>
#include <stdexcept>
#include <unordered_map>

#include "core/csv.h"

namespace invdiff {

void write_scores_csv(const std::string& path, const std::vector<std::string>& files, const SampleScores& s) {
  const int64_t N = s.score.size(0);
  if (static_cast<int64_t>(files.size()) != N) throw std::invalid_argument("scores: files and scores differ in length");
  CsvTable t;
  t.header = {"file", "score"};
  const bool multi = s.method == ScoreMethod::MultiT;
  const size_t M = s.timesteps.size();
  if (multi) {
    for (int ts : s.timesteps) t.header.push_back("loss_t" + std::to_string(ts));
    for (int ts : s.timesteps) t.header.push_back("z_t" + std::to_string(ts));
  } else {
    t.header.push_back("t");
  }
  // Feature blocks, each a prefix and its columns: res_* (pooled residuals), h_* (bottleneck).
  struct Block { std::string prefix; at::Tensor v; };
  std::vector<Block> blocks;
  for (const auto& [prefix, v] : {std::pair{"res_", s.features}, std::pair{"h_", s.hidden}}) {
    if (!v.defined()) continue;
    if (v.size(0) != N) throw std::invalid_argument("scores: features and scores differ in length");
    for (int64_t k = 0; k < v.size(1); ++k) t.header.push_back(prefix + std::to_string(k));
    blocks.push_back({prefix, v.to(torch::kFloat64).contiguous()});
  }
  auto score = s.score.to(torch::kFloat64).contiguous();
  auto raw = s.raw.to(torch::kFloat64).contiguous();
  auto z = multi ? s.z.to(torch::kFloat64).contiguous() : raw;
  auto sa = score.accessor<double, 1>();
  auto ra = raw.accessor<double, 2>();
  auto za = z.accessor<double, 2>();
  char buf[32];
  auto num = [&](double v) {
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return std::string(buf);
  };
  for (int64_t i = 0; i < N; ++i) {
    std::vector<std::string> row{files[i], num(sa[i])};
    if (multi) {
      for (size_t m = 0; m < M; ++m) row.push_back(num(ra[i][m]));
      for (size_t m = 0; m < M; ++m) row.push_back(num(za[i][m]));
    } else {
      row.push_back(std::to_string(s.t[i].item<int64_t>()));
    }
    for (const auto& b : blocks) {
      const double* p = b.v.data_ptr<double>() + i * b.v.size(1);
      for (int64_t k = 0; k < b.v.size(1); ++k) row.push_back(num(p[k]));
    }
    t.rows.push_back(std::move(row));
  }
  write_csv(path, t);
}

SampleScores read_scores_csv(const std::string& path, const std::vector<std::string>& files) {
  auto t = read_csv(path);
  size_t fc = t.column("file"), sc = t.column("score");
  SampleScores s;
  std::vector<size_t> loss_cols, z_cols, res_cols, h_cols;
  for (size_t c = 0; c < t.header.size(); ++c) {
    const auto& h = t.header[c];
    // Looked up by name in order, so a gap or a duplicate in a block is an error, not a shift.
    if (h.rfind("res_", 0) == 0) res_cols.push_back(t.column("res_" + std::to_string(res_cols.size())));
    if (h.rfind("h_", 0) == 0) h_cols.push_back(t.column("h_" + std::to_string(h_cols.size())));
    if (h.rfind("loss_t", 0) == 0) {
      const std::string ts = h.substr(6);
      if (ts.empty() || ts.find_first_not_of("0123456789") != std::string::npos || ts.size() > 9)
        throw std::runtime_error(path + ": column '" + h + "' does not name a timestep (loss_t<t>)");
      s.timesteps.push_back(std::stoi(ts));
      loss_cols.push_back(c);
      z_cols.push_back(t.column("z_t" + h.substr(6)));
    }
  }
  s.method = loss_cols.empty() ? ScoreMethod::SingleT : ScoreMethod::MultiT;
  std::unordered_map<std::string, size_t> row;
  for (size_t i = 0; i < t.rows.size(); ++i) row[t.rows[i][fc]] = i;
  if (row.size() != files.size())
    throw std::runtime_error(path + " has " + std::to_string(row.size()) + " rows, the dataset " +
                             std::to_string(files.size()) + ": scored on another dataset or split");
  const int64_t N = static_cast<int64_t>(files.size()), M = std::max<int64_t>(1, loss_cols.size());
  s.score = torch::empty({N}, torch::kFloat64);
  s.raw = torch::empty({N, M}, torch::kFloat64);
  if (s.method == ScoreMethod::MultiT) s.z = torch::empty({N, M}, torch::kFloat64);
  else s.t = torch::empty({N}, torch::kInt64);
  if (!res_cols.empty()) s.features = torch::empty({N, static_cast<int64_t>(res_cols.size())}, torch::kFloat64);
  if (!h_cols.empty()) s.hidden = torch::empty({N, static_cast<int64_t>(h_cols.size())}, torch::kFloat64);
  auto sa = s.score.accessor<double, 1>();
  auto ra = s.raw.accessor<double, 2>();
  for (int64_t i = 0; i < N; ++i) {
    auto it = row.find(files[i]);
    if (it == row.end()) throw std::runtime_error(path + " has no row for dataset file '" + files[i] + "'");
    sa[i] = t.number(it->second, sc);
    if (s.method == ScoreMethod::MultiT) {
      auto za = s.z.accessor<double, 2>();
      for (int64_t m = 0; m < M; ++m) {
        ra[i][m] = t.number(it->second, loss_cols[m]);
        za[i][m] = t.number(it->second, z_cols[m]);
      }
    } else {
      s.t.accessor<int64_t, 1>()[i] = static_cast<int64_t>(t.number(it->second, t.column("t")));
      ra[i][0] = sa[i];
    }
    for (const auto& [cols, v] : {std::pair{&res_cols, s.features}, std::pair{&h_cols, s.hidden}}) {
      if (cols->empty()) continue;
      double* p = v.data_ptr<double>() + i * v.size(1);
      for (size_t k = 0; k < cols->size(); ++k) p[k] = t.number(it->second, (*cols)[k]);
    }
  }
  return s;
}

}  // namespace invdiff
