// The shared half of the importers: choosing columns, drawing the train and ref splits, and
// writing the generic layout. The per-dataset readers are import_{waterbirds,celeba,fairface}.cpp.
#include "data/import.h"

#include <torch/torch.h>

#include <algorithm>
#include <iterator>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <stdexcept>

#include "core/csv.h"
#include "core/fs.h"
#include "core/progress.h"
#include "data/image_io.h"
#include "data/image_prep.h"

namespace invdiff {

size_t PublishedDataset::column(const std::string& col) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == col) return i;
  std::string all;
  for (const auto& c : columns) all += (all.empty() ? "" : ", ") + c.name;
  throw std::invalid_argument(name + ": no column '" + col + "' (columns: " + all + ")");
}

PublishedDataset read_published(const std::string& name, const std::string& from) {
  if (!file_exists(from)) throw std::runtime_error(name + ": folder not found: " + from);
  if (name == "waterbirds") return read_waterbirds(from);
  if (name == "celeba") return read_celeba(from);
  if (name == "fairface") return read_fairface(from);
  throw std::invalid_argument("unknown published dataset '" + name + "' (waterbirds, celeba or fairface)");
}

std::vector<double> parse_ratios(const std::string& text) {
  if (text == "none") return {};
  std::vector<double> out;
  size_t start = 0;
  while (true) {
    const size_t colon = text.find(':', start);
    const std::string part = text.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    size_t used = 0;
    double v = NAN;
    try {
      v = std::stod(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || !std::isfinite(v) || v < 0)
      throw std::invalid_argument("'" + part + "' in '" + text +
                                  "' is not a non-negative number (write e.g. 3:2:1:1, or none)");
    out.push_back(v);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  double sum = 0;
  for (double v : out) sum += v;
  if (!(sum > 0)) throw std::invalid_argument("'" + text + "' keeps no cell (every ratio is 0)");
  return out;
}

namespace {

// Which columns the import writes and how the training split is drawn.
struct Plan {
  size_t target;
  std::vector<size_t> attrs;
  std::vector<double> ratios;  // empty: as published
};

Plan make_plan(const PublishedDataset& pub, const ImportOptions& opt) {
  Plan p;
  const std::string target = opt.target.empty() ? pub.default_target : opt.target;
  p.target = pub.column(target);
  for (const auto& a : opt.attributes.value_or(pub.default_attributes)) {
    const size_t c = pub.column(a);
    if (c == p.target) throw std::invalid_argument(pub.name + ": '" + a + "' is the target; it cannot also be an attribute");
    if (std::find(p.attrs.begin(), p.attrs.end(), c) != p.attrs.end())
      throw std::invalid_argument(pub.name + ": attribute '" + a + "' is named twice");
    p.attrs.push_back(c);
  }
  const bool defaults = target == pub.default_target && opt.attributes.value_or(pub.default_attributes) == pub.default_attributes;
  p.ratios = opt.ratios ? *opt.ratios : defaults ? pub.default_ratios : std::vector<double>{};
  if (!p.ratios.empty()) {
    if (p.attrs.empty()) throw std::invalid_argument(pub.name + ": --ratios needs an attribute (the cells are target x attribute)");
    const size_t cells = pub.columns[p.target].values.size() * pub.columns[p.attrs[0]].values.size();
    if (p.ratios.size() != cells)
      throw std::invalid_argument(pub.name + ": --ratios has " + std::to_string(p.ratios.size()) + " values but " +
                                  pub.columns[p.target].name + " x " + pub.columns[p.attrs[0]].name + " has " +
                                  std::to_string(cells) + " cells (target major)");
  }
  return p;
}

int64_t value_index(const LabelColumn& c, const std::string& v) {
  return std::find(c.values.begin(), c.values.end(), v) - c.values.begin();
}

// A seeded permutation of `v` (our own Fisher-Yates: std::shuffle differs between libraries).
void shuffle(std::vector<size_t>& v, uint64_t seed) {
  std::mt19937_64 g(seed * 0x9E3779B97F4A7C15ull + 0x51ED);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[g() % i]);
}

// Rows of `pool` drawn so that cell k (target value x first attribute value) holds
// floor(s * ratio_k) rows, with s as large as the fullest-needed cell and the cap allow.
std::vector<size_t> draw_cells(const PublishedDataset& pub, const Plan& p, const std::vector<size_t>& pool,
                               const std::vector<double>& ratios, int64_t cap, uint64_t seed, const std::string& split) {
  const auto& tc = pub.columns[p.target];
  const auto& ac = pub.columns[p.attrs[0]];
  std::vector<std::vector<size_t>> cells(ratios.size());
  for (size_t r : pool) {
    const auto& row = pub.rows[r];
    cells[value_index(tc, row.labels[p.target]) * ac.values.size() + value_index(ac, row.labels[p.attrs[0]])].push_back(r);
  }
  double s = INFINITY, total = 0;
  for (size_t k = 0; k < cells.size(); ++k) {
    total += ratios[k];
    if (ratios[k] <= 0) continue;
    if (cells[k].empty())
      throw std::runtime_error(pub.name + ": the " + split + " split has no image of " + tc.name + " " +
                               tc.values[k / ac.values.size()] + " with " + ac.name + " " + ac.values[k % ac.values.size()] +
                               ", which its ratios need");
    s = std::min(s, cells[k].size() / ratios[k]);
  }
  if (cap >= 0) s = std::min(s, cap / total);
  std::vector<size_t> out;
  for (size_t k = 0; k < cells.size(); ++k) {
    auto n = static_cast<size_t>(std::floor(s * ratios[k] + 1e-9));
    shuffle(cells[k], seed + 31 * k);
    out.insert(out.end(), cells[k].begin(), cells[k].begin() + std::min(n, cells[k].size()));
  }
  std::sort(out.begin(), out.end());  // the published order: diffs and eyes read it that way
  return out;
}

std::vector<size_t> draw_split(const PublishedDataset& pub, const Plan& p, const std::vector<size_t>& pool,
                               const std::vector<double>& ratios, int64_t cap, uint64_t seed, const std::string& split) {
  if (!ratios.empty()) return draw_cells(pub, p, pool, ratios, cap, seed, split);
  std::vector<size_t> out = pool;
  if (cap >= 0 && static_cast<int64_t>(out.size()) > cap) {
    shuffle(out, seed);
    out.resize(static_cast<size_t>(cap));
    std::sort(out.begin(), out.end());
  }
  return out;
}

}  // namespace

// The splits an import writes, in the order metadata.csv lists them (val only where published).
constexpr const char* kWrittenSplits[] = {"train", "val", "ref"};

nlohmann::json import_dataset(const PublishedDataset& pub, const ImportOptions& opt, const std::string& out_dir,
                              bool progress) {
  if (opt.resolution < 8 || opt.resolution > 1024)
    throw std::invalid_argument("import: --resolution must be in [8, 1024] (got " + std::to_string(opt.resolution) + ")");
  const Plan p = make_plan(pub, opt);
  std::vector<size_t> used{p.target};
  used.insert(used.end(), p.attrs.begin(), p.attrs.end());

  // Rows with a value in every column used; the others are counted, by column, in the manifest.
  std::map<std::string, std::vector<size_t>> pool;
  nlohmann::json left_out = nlohmann::json::object();
  for (size_t r = 0; r < pub.rows.size(); ++r) {
    const auto& row = pub.rows[r];
    if (std::find(std::begin(kWrittenSplits), std::end(kWrittenSplits), row.split) == std::end(kWrittenSplits)) continue;
    bool keep = true;
    for (size_t c : used)
      if (row.labels[c].empty()) {
        left_out[pub.columns[c].name] = left_out.value(pub.columns[c].name, 0) + 1;
        keep = false;
        break;
      }
    if (keep) pool[row.split].push_back(r);
  }
  const std::vector<double> balanced =
      opt.balanced_ref && !p.attrs.empty()
          ? std::vector<double>(pub.columns[p.target].values.size() * pub.columns[p.attrs[0]].values.size(), 1.0)
          : std::vector<double>{};
  std::map<std::string, std::vector<size_t>> chosen;
  chosen["train"] = draw_split(pub, p, pool["train"], p.ratios, opt.max_train, opt.seed, "train");
  chosen["ref"] = draw_split(pub, p, pool["ref"], balanced, opt.max_ref, opt.seed + 1, "ref");
  chosen["val"] = draw_split(pub, p, pool["val"], {}, opt.max_val, opt.seed + 2, "val");  // may be empty
  for (const char* s : {"train", "ref"})
    if (chosen[s].empty()) throw std::runtime_error(pub.name + ": no images left in the " + std::string(s) + " split");
  for (const char* s : kWrittenSplits)  // every image there before anything is written
    for (size_t r : chosen[s])
      if (!file_exists(join_path(pub.from, pub.rows[r].file)))
        throw std::runtime_error(pub.from + ": image listed in the labels is missing: " + pub.rows[r].file);

  // Minority: a row whose value of some attribute is not its class's most common one in train.
  std::vector<std::vector<int64_t>> majority(p.attrs.size());
  for (size_t a = 0; a < p.attrs.size(); ++a) {
    const auto& tc = pub.columns[p.target];
    const auto& ac = pub.columns[p.attrs[a]];
    std::vector<std::vector<int64_t>> counts(tc.values.size(), std::vector<int64_t>(ac.values.size(), 0));
    for (size_t r : chosen["train"])
      ++counts[value_index(tc, pub.rows[r].labels[p.target])][value_index(ac, pub.rows[r].labels[p.attrs[a]])];
    for (const auto& c : counts) majority[a].push_back(std::max_element(c.begin(), c.end()) - c.begin());
  }

  ensure_dir(out_dir);
  std::filesystem::remove(join_path(out_dir, "manifest.json"));  // a rebuild never leaves a stale "complete" mark
  CsvTable meta;
  meta.header = {"file", "split"};
  for (size_t c : used) meta.header.push_back(pub.columns[c].name);
  if (!p.attrs.empty()) meta.header.push_back("minority");
  meta.header.push_back("source");
  nlohmann::json counts, cell_counts;
  for (const char* s : kWrittenSplits) {
    const std::string split = s, sub = "images/" + split;
    if (chosen[split].empty()) continue;  // no val split published (or --max-val 0)
    ensure_dir(join_path(out_dir, sub));
    ProgressBar bar(pub.name + " " + split, static_cast<int64_t>(chosen[split].size()), 0, progress);
    int64_t i = 0;
    for (size_t r : chosen[split]) {
      const auto& row = pub.rows[r];
      char name[32];
      std::snprintf(name, sizeof name, "%06ld.png", static_cast<long>(i));
      const std::string rel = sub + "/" + name;
      write_png(join_path(out_dir, rel), read_square_image(join_path(pub.from, row.file), opt.resolution));
      std::vector<std::string> line{rel, split};
      for (size_t c : used) line.push_back(row.labels[c]);
      if (!p.attrs.empty()) {
        bool minority = false;
        for (size_t a = 0; a < p.attrs.size(); ++a)
          minority = minority || value_index(pub.columns[p.attrs[a]], row.labels[p.attrs[a]]) !=
                                     majority[a][value_index(pub.columns[p.target], row.labels[p.target])];
        line.push_back(minority ? "1" : "0");
        auto& cc = cell_counts[split][row.labels[p.target]][row.labels[p.attrs[0]]];
        cc = cc.is_null() ? 1 : cc.get<int64_t>() + 1;
      }
      line.push_back(row.file);
      meta.rows.push_back(std::move(line));
      bar.update(++i);
    }
    bar.finish();
    counts[split] = i;
  }
  write_csv(join_path(out_dir, "metadata.csv"), meta);

  nlohmann::json m;
  m["name"] = pub.name;
  m["target_column"] = pub.columns[p.target].name;
  m["class_names"] = pub.columns[p.target].values;
  nlohmann::json cols = nlohmann::json::array(), attrs = nlohmann::json::array();
  for (size_t c : p.attrs) {
    cols.push_back(pub.columns[c].name);
    attrs.push_back({{"kind", "label"}, {"column", pub.columns[c].name}, {"values", pub.columns[c].values}});
  }
  if (!p.attrs.empty()) cols.push_back("minority");
  m["attribute_columns"] = cols;
  m["attributes"] = attrs;
  m["resolution"] = opt.resolution;
  m["source"] = absolute_path(pub.from);
  m["splits"] = pub.splits;
  m["train_ratios"] = p.ratios;
  m["import"] = opt;
  m["counts"] = counts;
  if (!cell_counts.is_null()) m["cell_counts"] = cell_counts;  // split -> target -> first attribute -> images
  m["left_out"] = left_out;  // rows without a value in a column used, by column
  m["majority_rule"] = "a class's most common value of each attribute in the train split";
  atomic_write_text(join_path(out_dir, "manifest.json"), m.dump(2) + "\n");
  return m;
}

}  // namespace invdiff
