#include "invdiff/group_report.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>

#include "core/fs.h"
#include "core/shares.h"
#include "data/image_io.h"
#include "invdiff/auc.h"

namespace invdiff {

namespace {

std::vector<double> to_vec(const at::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// The columns worth reporting: the manifest's attribute_columns, else every column but the
// row key, the split and the target.
std::vector<std::string> attribute_columns(const ImageDataset& data, const CsvTable& meta) {
  std::vector<std::string> cols{data.target_column};
  std::string mp = join_path(data.root, "manifest.json");
  auto m = file_exists(mp) ? nlohmann::json::parse(read_text(mp), nullptr, false) : nlohmann::json();
  if (!m.is_discarded() && m.contains("attribute_columns")) {
    for (const auto& c : m["attribute_columns"])
      if (meta.has_column(c.get<std::string>())) cols.push_back(c.get<std::string>());
  } else {
    for (const auto& h : meta.header)
      if (h != "file" && h != "split" && h != data.target_column) cols.push_back(h);
  }
  return cols;
}

std::string fmt(const char* f, double v) {
  char b[48];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// What balancing the groups would do to one attribute, per condition: the Bias of its values in
// the data, and the Bias when every (argmax) group present in the condition gets equal weight
// (the distribution a min step with group-balanced batches trains on; 0 for oracle groups).
// Returns the means over conditions: {data, balanced}.
std::pair<double, double> balanced_attribute_bias(const CsvTable& meta, const std::vector<size_t>& rows, size_t col,
                                                  const at::Tensor& labels_in, const at::Tensor& hard, int64_t G) {
  std::map<std::string, size_t> value_index;
  for (size_t r : rows) value_index.emplace(meta.rows[r][col], 0);
  size_t v = 0;
  for (auto& kv : value_index) kv.second = v++;
  auto labels = labels_in.to(torch::kCPU, torch::kInt64).contiguous();
  auto la = labels.accessor<int64_t, 1>();
  auto ha = hard.accessor<int64_t, 1>();
  std::map<int64_t, std::vector<std::vector<int64_t>>> counts;  // condition -> group -> value counts
  for (size_t i = 0; i < rows.size(); ++i) {
    auto& per_group = counts[la[i]];
    if (per_group.empty()) per_group.assign(G, std::vector<int64_t>(value_index.size(), 0));
    per_group[ha[i]][value_index.at(meta.rows[rows[i]][col])] += 1;
  }
  double data_sum = 0, bal_sum = 0;
  for (const auto& [cond, per_group] : counts) {
    std::vector<int64_t> all(value_index.size(), 0);
    std::vector<double> bal(value_index.size(), 0.0);
    int present = 0;
    for (const auto& gc : per_group) {
      int64_t n = 0;
      for (size_t k = 0; k < gc.size(); ++k) all[k] += gc[k], n += gc[k];
      if (n == 0) continue;
      ++present;
      auto f = shares_from_counts(gc);
      for (size_t k = 0; k < f.size(); ++k) bal[k] += f[k];
    }
    for (auto& b : bal) b /= std::max(present, 1);
    data_sum += bias_from_shares(shares_from_counts(all));
    bal_sum += bias_from_shares(bal);
  }
  const double nc = static_cast<double>(std::max<size_t>(counts.size(), 1));
  return {data_sum / nc, bal_sum / nc};
}

// Label-free: how unequal the groups are within each condition, as the Bias of their sizes over
// the groups present there (0: equal sizes, balancing them changes nothing; a condition with one
// group: 0). The data's Bias along the groups, were they the attribute. {mean, per condition}.
std::pair<double, std::vector<double>> imbalance_of(const at::Tensor& labels_in, const at::Tensor& hard, int64_t G) {
  auto labels = labels_in.to(torch::kCPU, torch::kInt64).contiguous();
  auto la = labels.accessor<int64_t, 1>();
  auto ha = hard.accessor<int64_t, 1>();
  std::map<int64_t, std::vector<int64_t>> sizes;  // condition -> group sizes
  for (int64_t i = 0; i < labels.size(0); ++i) {
    auto& v = sizes[la[i]];
    if (v.empty()) v.assign(G, 0);
    v[ha[i]] += 1;
  }
  std::vector<double> per;
  double sum = 0;
  for (auto& [cond, v] : sizes) {
    std::vector<int64_t> present;
    for (auto n : v)
      if (n > 0) present.push_back(n);
    per.push_back(present.size() < 2 ? 0.0 : bias_from_shares(shares_from_counts(present)));
    sum += per.back();
  }
  return {per.empty() ? 0.0 : sum / per.size(), per};
}

// JSON writes NaN as null; read it back as NaN.
double num(const nlohmann::json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }

}  // namespace

std::pair<double, std::vector<double>> group_imbalance(const at::Tensor& labels, const at::Tensor& W) {
  auto Wc = W.to(torch::kCPU, torch::kFloat64).contiguous();
  return imbalance_of(labels, Wc.argmax(1), Wc.size(1));
}

nlohmann::json group_structure(double imbalance, const nlohmann::json& grouper) {
  nlohmann::json v{{"imbalance", imbalance}};
  std::vector<double> ratio;
  if (grouper.is_object() && grouper.contains("conditions"))
    for (const auto& c : grouper["conditions"])
      if (c.contains("separation") && c["separation"].is_number() && c.contains("null_separation") &&
          c["null_separation"].is_number() && c["null_separation"].get<double>() > 0)
        ratio.push_back(c["separation"].get<double>() / c["null_separation"].get<double>());
  double median = std::nan("");
  if (!ratio.empty()) {
    std::sort(ratio.begin(), ratio.end());
    const size_t m = ratio.size() / 2;
    median = ratio.size() % 2 ? ratio[m] : 0.5 * (ratio[m - 1] + ratio[m]);
    v["separation_over_null"] = median;
  }
  if (imbalance < kMinImbalance) {
    v["clear"] = false;
    v["reason"] = "the groups are about equally large within every prompt (imbalance " + fmt("%.2f", imbalance) + " < " +
                  fmt("%.2f", kMinImbalance) + "): balancing them changes nothing, so there is no bias along them to remove";
  } else if (!ratio.empty() && median < kMinSeparationRatio) {
    v["clear"] = false;
    v["reason"] = "the groups are barely more distinct than the split of one Gaussian cloud (separation " +
                  fmt("%.2f", median) + " x the null's, < " + fmt("%.1f", kMinSeparationRatio) +
                  "): no group structure found";
  } else {
    v["clear"] = true;
    v["reason"] = "the groups are unequal within the prompts (imbalance " + fmt("%.2f", imbalance) + ")" +
                  (ratio.empty() ? std::string() : " and distinct (separation " + fmt("%.1f", median) +
                                                       " x that of a one-Gaussian split)");
  }
  return v;
}

nlohmann::json write_group_report(const std::string& out_dir, const ImageDataset& data, const at::Tensor& W_in,
                                  const std::vector<std::string>& group_names, const SampleScores* scores,
                                  const GroupReportOptions& opt, const nlohmann::json& grouper) {
  ensure_dir(out_dir);
  auto W = W_in.to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t N = W.size(0), G = W.size(1);
  auto hard = W.argmax(1);
  auto hacc = hard.accessor<int64_t, 1>();
  nlohmann::json rep;
  rep["num_samples"] = N;
  rep["num_groups"] = G;
  auto [imbalance, imbalance_per] = imbalance_of(data.labels, hard, G);
  rep["imbalance"] = {{"mean", imbalance}, {"per_condition", imbalance_per}};
  rep["structure"] = group_structure(imbalance, grouper);

  // Per group: sizes, soft mass, mean score, the grid of its highest-weight samples.
  std::vector<double> score = scores ? to_vec(scores->score) : std::vector<double>();
  nlohmann::json groups = nlohmann::json::array();
  for (int64_t g = 0; g < G; ++g) {
    nlohmann::json gj;
    gj["name"] = group_names.at(g);
    gj["size"] = (hard == g).sum().item<int64_t>();
    gj["mass"] = W.select(1, g).sum().item<double>();
    if (scores) gj["mean_score"] = ((W.select(1, g) * scores->score.to(torch::kFloat64)).sum() /
                                    W.select(1, g).sum().clamp_min(1e-12)).item<double>();
    if (opt.images) {
      int64_t k = std::min<int64_t>(opt.per_group, N);
      auto top = std::get<1>(W.select(1, g).topk(k));
      char f[32];
      std::snprintf(f, sizeof f, "group_%02ld.png", static_cast<long>(g));
      nlohmann::json params{{"group", group_names.at(g)}, {"index", g}, {"shown", "highest-weight samples"}};
      write_png(join_path(out_dir, f), make_grid(data.batch(top), 8), {{"parameters", params.dump()}});
      gj["grid"] = f;
    }
    groups.push_back(gj);
  }

  // Attribute mix, purity and minority AUC from the metadata, joined by the row key.
  auto meta = load_metadata(data.root, data.split);
  size_t fc = meta.column("file");
  std::unordered_map<std::string, size_t> row_of;
  for (size_t i = 0; i < meta.rows.size(); ++i) row_of[meta.rows[i][fc]] = i;
  std::vector<size_t> rows;
  for (const auto& f : data.files) {
    auto it = row_of.find(f);
    if (it == row_of.end()) throw std::runtime_error(meta.source + ": no metadata row for '" + f + "'");
    rows.push_back(it->second);
  }
  auto wacc = W.accessor<double, 2>();
  nlohmann::json attrs;
  for (const auto& col : attribute_columns(data, meta)) {
    size_t c = meta.column(col);
    std::map<std::string, std::vector<int64_t>> counts;  // value -> per-group hard counts
    std::map<std::string, std::vector<double>> mass;     // value -> per-group soft mass
    for (int64_t i = 0; i < N; ++i) {
      const auto& v = meta.rows[rows[i]][c];
      auto& cnt = counts[v];
      auto& ms = mass[v];
      if (cnt.empty()) { cnt.assign(G, 0); ms.assign(G, 0.0); }
      cnt[hacc[i]] += 1;
      for (int64_t g = 0; g < G; ++g) ms[g] += wacc[i][g];
    }
    int64_t pure = 0;
    for (int64_t g = 0; g < G; ++g) {
      int64_t best = 0;
      for (auto& kv : counts) best = std::max(best, kv.second[g]);
      pure += best;
      nlohmann::json mix, soft;
      double tot = groups[g]["mass"].get<double>();
      for (auto& kv : counts) {
        mix[kv.first] = kv.second[g];
        soft[kv.first] = tot > 0 ? mass[kv.first][g] / tot : 0.0;
      }
      groups[g]["mix"][col] = mix;
      groups[g]["soft_share"][col] = soft;
    }
    // Purity: share of samples whose argmax group's most common value they carry.
    attrs[col] = {{"purity", static_cast<double>(pure) / N}, {"values", counts.size()}};
    if (col != data.target_column && counts.size() >= 2) {
      auto [data_bias, balanced_bias] = balanced_attribute_bias(meta, rows, c, data.labels, hard, G);
      attrs[col]["data_bias"] = data_bias;
      attrs[col]["balanced_bias"] = balanced_bias;
    }
  }
  rep["attributes"] = attrs;

  if (meta.has_column(opt.minority_column)) {
    size_t mc = meta.column(opt.minority_column);
    std::vector<int> minority;
    for (int64_t i = 0; i < N; ++i) {
      const auto& v = meta.rows[rows[i]][mc];
      minority.push_back(v == "1" || v == "true" || v == "True" || v == "yes");
    }
    int64_t n_min = 0;
    for (int m : minority) n_min += m;
    nlohmann::json mj{{"column", opt.minority_column}, {"count", n_min}, {"share", double(n_min) / N}};
    if (scores) {
      mj["auc_score"] = roc_auc(score, minority);
      for (size_t m = 0; m < scores->timesteps.size(); ++m) {
        mj["auc_by_timestep"].push_back({{"t", scores->timesteps[m]},
                                         {"raw", roc_auc(to_vec(scores->raw.select(1, m)), minority)},
                                         {"standardised", roc_auc(to_vec(scores->z.select(1, m)), minority)}});
      }
    }
    // Per group: minority share and the share of all minority samples it captures.
    for (int64_t g = 0; g < G; ++g) {
      int64_t in = 0, size = 0;
      for (int64_t i = 0; i < N; ++i)
        if (hacc[i] == g) { ++size; in += minority[i]; }
      groups[g]["minority_share"] = size ? double(in) / size : 0.0;
      groups[g]["minority_recall"] = n_min ? double(in) / n_min : 0.0;
    }
    rep["minority"] = mj;
  }
  rep["groups"] = groups;
  atomic_write_text(join_path(out_dir, "report.json"), rep.dump(2) + "\n");

  // report.md: one table, the numbers a reader checks first.
  std::string md = "# Group report\n\n" + std::to_string(N) + " samples, " + std::to_string(G) + " groups.";
  if (rep.contains("minority")) {
    const auto& mj = rep["minority"];
    md += " Minority (`" + opt.minority_column + "`): " + fmt("%.1f", 100 * mj["share"].get<double>()) + " %.";
    if (mj.contains("auc_score")) md += " AUC of the score against it: **" + fmt("%.3f", num(mj["auc_score"])) + "**.";
  }
  md += " Imbalance of the groups within prompts (label-free: the Bias of their sizes; 0 = equal, "
        "nothing to rebalance): **" + fmt("%.3f", imbalance) + "**.\n\n" +
        std::string(rep["structure"]["clear"].get<bool>() ? "Group structure found: " : "**No clear group structure**: ") +
        rep["structure"]["reason"].get<std::string>() + ".";
  md += "\nAttribute columns are reported only; inference never read them.\n\n| group | size | mass |";
  if (scores) md += " mean score |";
  if (rep.contains("minority")) md += " minority share | minority recall |";
  md += " grid |\n|---|---|---|";
  if (scores) md += "---|";
  if (rep.contains("minority")) md += "---|---|";
  md += "---|\n";
  for (const auto& gj : groups) {
    md += "| " + gj["name"].get<std::string>() + " | " + std::to_string(gj["size"].get<int64_t>()) + " | " +
          fmt("%.1f", gj["mass"].get<double>()) + " |";
    if (scores) md += " " + fmt("%.4f", gj["mean_score"].get<double>()) + " |";
    if (rep.contains("minority"))
      md += " " + fmt("%.3f", gj["minority_share"].get<double>()) + " | " + fmt("%.3f", gj["minority_recall"].get<double>()) + " |";
    md += gj.contains("grid") ? " ![](" + gj["grid"].get<std::string>() + ") |\n" : " |\n";
  }
  md += "\n| attribute | purity of argmax groups | Bias in the data | Bias with the groups balanced |\n|---|---|---|---|\n";
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    const auto& a = it.value();
    md += "| " + it.key() + " | " + fmt("%.3f", a["purity"].get<double>()) + " | " +
          (a.contains("data_bias") ? fmt("%.3f", a["data_bias"].get<double>()) : "") + " | " +
          (a.contains("balanced_bias") ? fmt("%.3f", a["balanced_bias"].get<double>()) : "") + " |\n";
  }
  md += "\n(Bias with the groups balanced: the attribute's Bias per prompt when every group found in the prompt "
        "gets equal weight, as the min step's balanced batches do; oracle groups give 0.)\n";
  if (rep.contains("minority") && rep["minority"].contains("auc_by_timestep")) {
    md += "\n| timestep | AUC raw | AUC standardised |\n|---|---|---|\n";
    for (const auto& a : rep["minority"]["auc_by_timestep"])
      md += "| " + std::to_string(a["t"].get<int>()) + " | " + fmt("%.3f", num(a["raw"])) + " | " +
            fmt("%.3f", num(a["standardised"])) + " |\n";
  }
  atomic_write_text(join_path(out_dir, "report.md"), md);
  return rep;
}

}  // namespace invdiff
