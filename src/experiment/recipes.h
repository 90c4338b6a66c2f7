// Presets (budgets) and recipes (how one debiased model is made: its groups, G_psi and min
// step): the rows `run` and `bench` compare. Plain data; experiment.h runs them.
#pragma once
#include <cstdint>
#include "core/json.h"
#include <string>
#include <vector>

#include "invdiff/debias.h"
#include "invdiff/guidance.h"
#include "invdiff/infer_groups.h"

namespace invdiff {

// Budgets chosen from measured throughput on the 2-core machine (docs/pipeline.md).
struct Preset {
  std::string name;
  int64_t base_steps;
  int64_t debias_steps;
  int64_t reweight_steps;
  int64_t samples_per_class;
  int score_timesteps;  // M of the multi-t score
};
Preset get_preset(const std::string& name);  // quick or full

// Where a recipe's groups come from: the max step, the attribute columns (upper bound), none
// (the ERM control), or labelled inverse-frequency fine-tuning of the whole base.
enum class GroupsMode { Inferred, Oracle, None, Reweight };
INVDIFF_JSON_ENUM(GroupsMode, "groups mode",
                  {{GroupsMode::Inferred, "inferred"}, {GroupsMode::Oracle, "oracle"}, {GroupsMode::None, "none"},
                   {GroupsMode::Reweight, "reweight"}})

// How one debiased model is made.
struct Recipe {
  std::string name;                    // directory name, e.g. "invdiff"
  std::string label;                   // table row, e.g. "InvDiff, invdiff defaults"
  GroupsMode groups = GroupsMode::Inferred;
  GroupsConfig groups_cfg;             // inferred
  std::vector<std::string> oracle_columns;  // oracle, reweight; empty: the target and the dataset's attribute columns
  bool hard_groups = false, cross_class = false;
  GuidanceConfig guidance;
  DebiasConfig debias;
  int64_t reweight_steps = 0;          // reweight: fine-tuning steps of the whole base model
  // Inferred groups: train G_psi only when the max step's label-free verdict finds a clear group
  // structure (group_report.h); otherwise the guided model is the base itself. Why: with nothing
  // to rebalance the min step can only cost quality (unbiased control: FD 0.047 -> 0.084).
  bool min_step_needs_structure = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Recipe, name, label, groups, groups_cfg, oracle_columns, hard_groups,
                                                cross_class, guidance, debias, reweight_steps, min_step_needs_structure)

// invdiff's defaults: multi-t score of the residual's low band (pooled to 4 x 4), Otsu-chosen
// timestep refined by 4 draws, the cluster grouper (per-condition two-way split by the pooled
// residual's direction, or by the bottleneck at t = T/8 when the residual shows no clear group
// structure: `--cluster-features auto`) crossed with the condition, `small` G_psi in additive mix
// trained on t in [400, 900).
Recipe invdiff_recipe(const Preset& p);
// The official recipe: single-t score, the std grouper (G = 8), a full `copy` G_psi in the
// convex mix at r = 0.5, t over the whole schedule.
Recipe official_recipe(const Preset& p);
// The recipe `invdiff run` makes its guided model with: invdiff's defaults for the preset, the
// max step's and the min step's seeds set to `seed`. The stage commands (`groups`, `debias`)
// start from it too (cli/recipe_option.h), so the stages run by hand give what `run` gives.
Recipe run_recipe(const Preset& p, uint64_t seed);
// The ERM control: invdiff's min step with no groups (plain mean loss).
Recipe erm_recipe(const Preset& p);
// Oracle groups (true class x attribute values) with invdiff's min step: the label-free upper bound.
Recipe oracle_recipe(const Preset& p);
// Plain fine-tuning of the base model with inverse oracle-group-frequency weights.
Recipe reweight_recipe(const Preset& p);

}  // namespace invdiff
