#include "invdiff/groups_io.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "core/fs.h"

namespace invdiff {

std::string groups_csv_path(const std::string& p) {
  if (std::filesystem::is_directory(p)) return join_path(p, "groups.csv");
  return p;
}

void write_groups_csv(const std::string& path, const GroupTable& g) {
  const int64_t N = g.W.size(0), G = g.W.size(1);
  if (static_cast<int64_t>(g.files.size()) != N) throw std::invalid_argument("groups: files and W differ in length");
  CsvTable t;
  t.header = {"file", "group"};
  for (int64_t k = 0; k < G; ++k) t.header.push_back("w_" + std::to_string(k));
  auto W = g.W.to(torch::kCPU, torch::kFloat64).contiguous();
  auto hard = W.argmax(1);
  auto acc = W.accessor<double, 2>();
  auto hacc = hard.accessor<int64_t, 1>();
  t.rows.reserve(N);
  char buf[32];
  for (int64_t i = 0; i < N; ++i) {
    std::vector<std::string> row{g.files[i], std::to_string(hacc[i])};
    for (int64_t k = 0; k < G; ++k) {
      std::snprintf(buf, sizeof buf, "%.9g", acc[i][k]);
      row.push_back(buf);
    }
    t.rows.push_back(std::move(row));
  }
  write_csv(path, t);
}

GroupTable read_groups(const std::string& dir_or_file) {
  std::string path = groups_csv_path(dir_or_file);
  if (!file_exists(path)) throw std::runtime_error("groups file not found: " + path + " (run `invdiff groups` first)");
  auto t = read_csv(path);
  size_t fc = t.column("file");
  std::vector<size_t> wcols;
  for (size_t k = 0;; ++k) {
    std::string name = "w_" + std::to_string(k);
    if (!t.has_column(name)) break;
    wcols.push_back(t.column(name));
  }
  if (wcols.size() < 1) throw std::runtime_error(path + ": no weight columns w_0, w_1, ...");
  if (t.rows.empty()) throw std::runtime_error(path + ": no rows");
  GroupTable g;
  g.source = path;
  const int64_t N = static_cast<int64_t>(t.rows.size()), G = static_cast<int64_t>(wcols.size());
  g.W = torch::empty({N, G}, torch::kFloat64);
  auto acc = g.W.accessor<double, 2>();
  for (int64_t i = 0; i < N; ++i) {
    const auto& r = t.rows[i];
    g.files.push_back(r[fc]);
    for (int64_t k = 0; k < G; ++k) {
      acc[i][k] = t.number(static_cast<size_t>(i), wcols[k]);
      if (!(acc[i][k] >= 0)) throw std::runtime_error(path + ": row " + std::to_string(i + 2) + ": negative weight");
    }
  }
  std::string summary = join_path(std::filesystem::path(path).parent_path().string(), "summary.json");
  if (file_exists(summary)) {
    auto j = nlohmann::json::parse(read_text(summary), nullptr, false);
    if (!j.is_discarded() && j.contains("group_names") && j["group_names"].size() == static_cast<size_t>(G))
      g.group_names = j["group_names"].get<std::vector<std::string>>();
    if (!j.is_discarded() && j.contains("mode") && j["mode"].is_string()) g.mode = j["mode"].get<std::string>();
    if (!j.is_discarded() && j.contains("dataset")) g.dataset = j["dataset"];
  }
  if (g.group_names.empty())
    for (int64_t k = 0; k < G; ++k) g.group_names.push_back("g" + std::to_string(k));
  return g;
}

at::Tensor align_groups(const GroupTable& g, const std::vector<std::string>& files) {
  std::unordered_map<std::string, int64_t> row;
  row.reserve(g.files.size());
  for (size_t i = 0; i < g.files.size(); ++i)
    if (!row.emplace(g.files[i], static_cast<int64_t>(i)).second)
      throw std::runtime_error(g.source + ": file '" + g.files[i] + "' appears twice");
  std::vector<int64_t> idx;
  idx.reserve(files.size());
  int64_t missing = 0;
  std::string first_missing;
  for (const auto& f : files) {
    auto it = row.find(f);
    if (it == row.end()) {
      if (missing++ == 0) first_missing = f;
      continue;
    }
    idx.push_back(it->second);
  }
  if (missing)
    throw std::runtime_error(g.source + " has no row for dataset file '" + first_missing + "'" +
                             (missing > 1 ? " (and " + std::to_string(missing - 1) + " more)" : std::string()) +
                             ": the groups were inferred on another dataset or split");
  if (files.size() != g.files.size()) {
    std::set<std::string> have(files.begin(), files.end());
    int64_t extra = 0;
    std::string first_extra;
    for (const auto& f : g.files)
      if (!have.count(f) && extra++ == 0) first_extra = f;
    throw std::runtime_error(g.source + ": row '" + first_extra + "'" +
                             (extra > 1 ? " (and " + std::to_string(extra - 1) + " more)" : std::string()) +
                             " matches no dataset row: the groups were inferred on another dataset or split");
  }
  return g.W.index_select(0, torch::tensor(idx, torch::kInt64));
}

GroupTable oracle_groups(const CsvTable& meta, const std::vector<std::string>& files,
                         const std::vector<std::string>& columns) {
  if (columns.empty()) throw std::invalid_argument("--oracle needs at least one column");
  size_t fc = meta.column("file");
  std::vector<size_t> cols;
  for (const auto& c : columns) cols.push_back(meta.column(c));
  std::unordered_map<std::string, std::string> key_of;
  for (const auto& r : meta.rows) {
    std::string key;
    for (size_t k = 0; k < cols.size(); ++k) key += (k ? "|" : "") + r[cols[k]];
    key_of[r[fc]] = key;
  }
  std::vector<std::string> keys;
  std::set<std::string> uniq;
  for (const auto& f : files) {
    auto it = key_of.find(f);
    if (it == key_of.end()) throw std::runtime_error(meta.source + ": no metadata row for '" + f + "'");
    keys.push_back(it->second);
    uniq.insert(it->second);
  }
  GroupTable g;
  g.files = files;
  g.group_names.assign(uniq.begin(), uniq.end());
  std::map<std::string, int64_t> index;
  for (size_t k = 0; k < g.group_names.size(); ++k) index[g.group_names[k]] = static_cast<int64_t>(k);
  g.W = torch::zeros({static_cast<int64_t>(files.size()), static_cast<int64_t>(uniq.size())}, torch::kFloat64);
  auto acc = g.W.accessor<double, 2>();
  for (size_t i = 0; i < keys.size(); ++i) acc[i][index[keys[i]]] = 1.0;
  g.source = "oracle(" + meta.source + ")";
  return g;
}

at::Tensor harden_groups(const at::Tensor& W) {
  return torch::one_hot(W.argmax(1), W.size(1)).to(W.scalar_type());
}

at::Tensor cross_with_labels(const at::Tensor& W, const at::Tensor& labels, int64_t C) {
  const int64_t N = W.size(0), G = W.size(1);
  auto onehot = torch::one_hot(labels.to(torch::kInt64), C).to(W.scalar_type());  // [N, C]
  return (onehot.unsqueeze(2) * W.unsqueeze(1)).reshape({N, C * G});
}

}  // namespace invdiff
