#include "data/reweight.h"

#include <torch/torch.h>

#include <map>
#include <stdexcept>
#include <unordered_map>

namespace invdiff {

at::Tensor inverse_frequency_weights(const CsvTable& meta, const std::vector<std::string>& files,
                                     const std::vector<std::string>& columns) {
  if (columns.empty()) throw std::invalid_argument("reweighting needs at least one column");
  size_t fc = meta.column("file");
  std::vector<size_t> cols;
  for (const auto& c : columns) cols.push_back(meta.column(c));
  std::unordered_map<std::string, std::string> key_of;
  for (const auto& r : meta.rows) {
    std::string k;
    for (size_t c : cols) k += r[c] + "|";
    key_of[r[fc]] = k;
  }
  std::vector<std::string> keys;
  std::map<std::string, int64_t> count;
  for (const auto& f : files) {
    auto it = key_of.find(f);
    if (it == key_of.end()) throw std::runtime_error(meta.source + ": no row for file '" + f + "'");
    keys.push_back(it->second);
    ++count[it->second];
  }
  std::vector<double> w;
  for (const auto& k : keys) w.push_back(1.0 / static_cast<double>(count[k]));
  auto t = torch::tensor(w, torch::kFloat64);
  return (t / t.mean()).to(torch::kFloat32);
}

}  // namespace invdiff
