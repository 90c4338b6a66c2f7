#include "eval/report.h"

#include <cstdio>

namespace invdiff {

namespace {
// A number with 3 decimals, or "n/a" for a metric that was not computed (null / NaN).
std::string num(const nlohmann::json& v, const char* fmt = "%.3f") {
  if (!v.is_number()) return "n/a";
  char b[48];
  std::snprintf(b, sizeof b, fmt, v.get<double>());
  return b;
}
}  // namespace

std::string metrics_markdown(const nlohmann::json& m) {
  std::string md = "# invdiff eval\n\n";
  const std::string source = m.value("source", std::string("?"));
  const auto& gen = m.value("generation", nlohmann::json::object());
  if (source == "model") {
    md += "Model `" + gen.value("model", std::string()) + "`, " + std::to_string(m.value("n_per_prompt", 0)) +
          " samples per prompt, " + gen.value("sampling_method", std::string()) + " " +
          std::to_string(gen.value("steps", 0)) + " steps, CFG " + num(gen.value("cfg_scale", nlohmann::json()), "%g") +
          ", seed " + std::to_string(gen.value("seed", 0ull)) + ".\n\n";
  } else if (source == "images") {
    md += "Images from `" + gen.value("images", std::string()) + "` (prompts from " +
          gen.value("prompts_from", std::string()) + ").\n\n";
  } else {
    md += "Real reference data: one seeded half of the reference split scored against the other (seed " +
          std::to_string(gen.value("seed", 0ull)) + ").\n\n";
  }
  const auto& ref = m.value("reference", nlohmann::json::object());
  md += "Reference: `" + ref.value("data", std::string()) + "` split `" + ref.value("split", std::string()) + "` (" +
        std::to_string(ref.value("n", 0)) + " images).\n\n";

  std::vector<std::string> attrs = m.value("attribute", nlohmann::json::object()).value("classes", std::vector<std::string>{});
  md += "| prompt | n | faithfulness | purity |";
  for (const auto& a : attrs) md += " " + a + " |";
  md += " Bias |\n|---|---|---|---|";
  for (size_t k = 0; k < attrs.size(); ++k) md += "---|";
  md += "---|\n";
  const auto& per = m.value("per_prompt", nlohmann::json::object());
  for (const auto& name : m.value("prompt_order", std::vector<std::string>{})) {
    const auto& e = per.at(name);
    md += "| " + name + " | " + std::to_string(e.value("n", 0)) + " | " + num(e["faithfulness"]) + " | " +
          num(e["purity"]) + " |";
    for (const auto& a : attrs) md += " " + (e["shares"].is_object() ? num(e["shares"].value(a, nlohmann::json())) : "n/a") + " |";
    md += " " + num(e["bias"]) + " |\n";
  }
  md += "| **all** | " + std::to_string(m.value("n_images", 0)) + " | **" + num(m["faithfulness"]) + "** | **" +
        num(m["purity"]) + "** |";
  for (size_t k = 0; k < attrs.size(); ++k) md += " |";
  md += " **" + num(m["bias"]) + "** |\n\n";
  const auto by = m.value("bias_by_attribute", nlohmann::json::object());
  if (by.size() > 1) {  // the table's shares are the first attribute's; Bias is the mean over all
    md += "Bias by attribute (the table's Bias is their mean):";
    for (auto it = by.begin(); it != by.end(); ++it) md += " " + it.key() + " " + num(it.value()) + ";";
    md += "\n\n";
  }

  md += "| FD | KID | precision | recall |\n|---|---|---|---|\n";
  md += "| " + num(m["fd"], "%.4g") + " | " + num(m["kid"], "%.4g") + " ± " + num(m["kid_std"], "%.2g") + " | " +
        num(m["precision"]) + " | " + num(m["recall"]) + " |\n\n";
  const auto& f = m.value("features", nlohmann::json::object());
  md += "Features: " + f.value("kind", std::string("?")) + " `" + f.value("path", std::string()) + "`" +
        (f.contains("dim") ? " (" + std::to_string(f["dim"].get<int64_t>()) + "-d)" : std::string()) +
        ". KID: " + std::to_string(m.value("kid_subsets", 0)) + " subsets of " +
        std::to_string(m.value("kid_subset_size", 0)) + "; precision/recall k = " + std::to_string(m.value("pr_k", 3)) +
        ", all points.\n\n![samples](samples.png)\n";
  return md;
}

}  // namespace invdiff
