// The report of `invdiff run`: metric table (reference, base, guided), per-prompt attribute
// shares as an SVG bar chart, loss curves (SVG), base vs guided sample grids, the inferred
// groups and the time of every stage. Written as report.md and report.html from one document
// (eval/report_doc.h), plus metrics.json with every number the report shows.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace invdiff {

// `run` is run_pipeline's JSON (stage results under base_train, classifier, groups,
// guided_train, eval.{reference,base,guided}; preset, seed, command, ...).
void write_run_report(const std::string& out_dir, const nlohmann::json& run);

// "0.123" style formatting shared by the reports; "-" for null / non-numbers.
std::string fmt_num(const nlohmann::json& v, int digits = 3);

// Who judged Bias in an evaluation's metrics.json, for the report and the CLI: "the colour
// oracle", "the attribute classifier on 'shade' (validation accuracy 0.958)", several joined by
// "; " (Bias is then their mean); "" when nothing did (no attribute labels).
std::string bias_judges(const nlohmann::json& metrics);

}  // namespace invdiff
