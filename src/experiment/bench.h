// `invdiff bench`: the comparison table of issue 5, the way a paper's results table is made -
// one dataset, one base model, and for each seed: the base, the ERM control, the official
// recipe, invdiff's defaults, oracle groups and oracle reweighting, each evaluated with the same
// sampling seeds; mean and standard deviation over seeds. Every cell is a resumable stage, and
// bench.md / bench.json are rewritten after each, so a long bench shows its progress and an
// interrupted one resumes where it stopped.
#pragma once
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "invdiff/guidance.h"
#include "invdiff/infer_groups.h"

namespace invdiff {

// The table's rows, in table order: the reference split (sanity), the base, the ERM control, the
// official recipe, invdiff's defaults, oracle groups, oracle reweighting.
enum class BenchRow { Reference, Base, Erm, Official, Invdiff, Oracle, Reweight };
INVDIFF_JSON_ENUM(BenchRow, "bench row",
                  {{BenchRow::Reference, "reference"}, {BenchRow::Base, "base"}, {BenchRow::Erm, "erm"},
                   {BenchRow::Official, "official"}, {BenchRow::Invdiff, "invdiff"}, {BenchRow::Oracle, "oracle"},
                   {BenchRow::Reweight, "reweight"}})

// Unset optionals keep each recipe's own setting; a set one overrides it (and tags the cells).
struct BenchOptions {
  std::string out = "runs/bench";
  std::string data = "data/cfmnist";  // built as cfmnist when no dataset is there
  std::string target;                 // the condition column ("" : the manifest's)
  std::vector<std::string> attributes;  // Bias and the oracle rows' columns ("" : the manifest's)
  std::string preset = "quick";
  std::string base;                  // an existing base model; "" : train OUT/base (seed 0)
  int seeds = 3;                     // seeds 0 .. seeds-1 (groups, G_psi, sampling)
  std::vector<BenchRow> rows;        // a subset (empty: all)
  int64_t samples_per_class = 500;   // >= 500: Bias has sd ~0.03 at 200 (docs/evaluation.md)
  std::optional<int64_t> debias_steps;           // the preset's
  std::optional<double> lambda;                  // erm / invdiff / oracle rows
  std::optional<double> guidance_ratio;          // sampling-time r for the guided rows (unset: stored)
  std::optional<GuidanceVariant> variant;        // erm / invdiff / oracle rows
  // invdiff row's max step:
  std::optional<int64_t> groups;                 // G >= 2: the soft std grouper with G groups
  std::optional<int> refine_draws;               // draws around the chosen timestep
  std::optional<GrouperKind> grouper;            // otsu, cluster or std
  std::optional<int> residual_pool;              // score band: residual pooled to P x P (0: full MSE)
  // --set KEY=VALUE on the recipe's JSON (experiment/recipes.h): groups_cfg.* keys apply to the
  // invdiff row's max step, every other key to the rows sharing invdiff's min step (erm, invdiff,
  // oracle), e.g. debias.lr=3e-4, debias.balance_batches=true, guidance.small_channels=64.
  std::vector<std::string> settings;
  std::string command_line;          // shown in bench.md
};

// Runs (or resumes) every cell; writes OUT/bench.json and OUT/bench.md; returns bench.json.
nlohmann::json run_bench(const BenchOptions& opt, const c10::Device& device, bool progress);

// mean and sample standard deviation (n - 1; 0 for one value) of the finite values.
std::pair<double, double> mean_sd(const std::vector<double>& v);

// The markdown table of bench.json (rows x metrics, "mean ± sd").
std::string bench_markdown(const nlohmann::json& bench);

}  // namespace invdiff
