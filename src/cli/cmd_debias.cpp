// `invdiff debias`: the min step. Trains G_psi on the group objective with the base frozen, by
// default as `invdiff run` does (cli/recipe_option.h). --groups-dir none runs the ERM control
// (plain mean loss) through the same code path.
#include <CLI/CLI.hpp>

#include <torch/torch.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/recipe_option.h"
#include "core/fs.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "invdiff/debias.h"
#include "invdiff/group_weights.h"
#include "invdiff/guidance.h"

namespace invdiff::cli {

void add_debias_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("debias", "Train the invariant guidance module G_psi on inferred groups (the min step)");
  struct Opts {
    std::string model, groups, data, out = "guided", target, split = "train";
    std::vector<int> t_range;
    bool resume = false, hard = false, cross_class = false;
    GuidanceConfig gcfg;
    DebiasConfig dcfg;
  };
  auto o = std::make_shared<Opts>();
  // First: every default below is the recipe's, and the flags after it change it.
  add_recipe_option(cmd, [o](const Recipe& r) {
    o->gcfg = r.guidance;
    o->dcfg = r.debias;
    o->hard = r.hard_groups;
    o->cross_class = r.cross_class;
  });
  cmd->add_option("-m,--model", o->model, "frozen base model (checkpoint file or directory, or a diffusers folder)")->required();
  cmd->add_option("--groups-dir", o->groups, "groups directory or groups.csv from `invdiff groups`, or 'none' (ERM control)");
  add_old_name(cmd, "--groups", "--groups-dir", o->groups);
  cmd->add_option("--data", o->data, "dataset directory the groups were inferred on")->required();
  cmd->add_option("-o,--out", o->out, "output directory")->capture_default_str();
  cmd->add_option("--target", o->target, "condition column (default: the manifest's)");
  cmd->add_option("--split", o->split, "dataset split to train on (the one the groups were inferred on)")->capture_default_str();
  add_enum(cmd, "--variant", o->gcfg.variant, "G_psi: copy, small or lora");
  add_enum(cmd, "--mix", o->gcfg.mix, "additive (eps + r G) or convex ((1 - r) eps + r G)");
  add_optional(cmd, "--guidance-ratio", o->gcfg.ratio, "r, used in training and stored for sampling (default 1 additive, 0.5 convex)")
      ->check(in_range(0, kMaxAdditiveRatio));
  cmd->add_option("--lora-rank", o->gcfg.lora_rank, "lora: adapter rank")->check(positive())->capture_default_str();
  cmd->add_option("--lora-alpha", o->gcfg.lora_alpha, "lora: adapter scale alpha / rank")->check(positive())->capture_default_str();
  cmd->add_option("--small-ch", o->gcfg.small_channels, "small: base channels of G (0: half the base's)")->capture_default_str();
  cmd->add_option("--lambda", o->dcfg.lambda, "weight of the variance of group losses")->check(non_negative())->capture_default_str();
  cmd->add_flag("--relative-variance", o->dcfg.relative_variance, "penalise Var_g / mean_g^2 (scale-free) instead of Var_g");
  cmd->add_flag("--variance-within-condition", o->dcfg.variance_within_condition,
                "penalise the variance among each prompt's groups (mean over prompts) instead of among all groups");
  cmd->add_option("--t-range", o->t_range, "draw t from [lo, hi) (invdiff recipe: 400,900; official: the whole schedule)")->delimiter(',')->expected(2);
  add_enum(cmd, "--t-sampling", o->dcfg.t_sampling,
           "t within the range: uniform, or profile (by the base's group-loss spread per bin, measured first)");
  cmd->add_option("--profile-floor", o->dcfg.profile_floor, "profile: share of the draws spread uniformly over the bins")
      ->check(in_range(0, 1))->capture_default_str();
  cmd->add_option("--profile-power", o->dcfg.profile_power,
                  "profile: draw each bin in proportion to its spread to this power (> 1: sharper)")
      ->check(in_range(1e-3, 16))->capture_default_str();
  cmd->add_flag("--balance-batches", o->dcfg.balance_batches,
                "draw batches so that every group fills an equal share (with replacement; invdiff recipe: on)");
  add_negated_flag(cmd, "--no-balance-batches", o->dcfg.balance_batches, "uniform batches");
  cmd->add_flag("--balance-within-condition", o->dcfg.balance_within_condition,
                "with --balance-batches: each condition keeps its share of the rows, split equally among its groups "
                "(default: every group, crossed with the condition, the same share)");
  cmd->add_flag("--hard-groups", o->hard, "use each sample's argmax group (one-hot) instead of the soft weights (invdiff recipe: on)");
  add_negated_flag(cmd, "--soft-groups", o->hard, "use the soft group weights as written");
  cmd->add_flag("--cross-class", o->cross_class, "cross the groups with the condition (G x classes groups; invdiff recipe: on)");
  add_negated_flag(cmd, "--no-cross-class", o->cross_class, "the groups as written, not crossed with the condition");
  cmd->add_flag("--resume", o->resume, "continue the checkpoint in --out");
  add_optim_options(cmd, o->dcfg);
  cmd->callback([o, &g, cmd] {
    if (o->resume)  // the stored run's configuration wins: say so instead of ignoring the flags
      refuse_given_except(cmd, {"--model", "--groups-dir", "--groups", "--data", "--out", "--target", "--split", "--steps",
                                "--resume", "--hard-groups", "--soft-groups", "--cross-class", "--no-cross-class"},
                          "by --resume (the run continues with its stored configuration; only --steps may grow)");
    refuse_given(cmd, o->gcfg.variant != GuidanceVariant::Lora, {"--lora-rank", "--lora-alpha"},
                 "it applies to --variant lora only");
    refuse_given(cmd, o->gcfg.variant != GuidanceVariant::Small, {"--small-ch"}, "it applies to --variant small only");
    refuse_given(cmd, o->dcfg.t_sampling != TimestepSampling::Profile, {"--profile-floor", "--profile-power"},
                 "it applies to --t-sampling profile only");
    refuse_given(cmd, !o->dcfg.balance_batches, {"--balance-within-condition"}, "it applies to --balance-batches only");
    setup_runtime(g);
    auto device = parse_device(g.device);
    o->gcfg.validate();
    if (!o->t_range.empty()) {
      o->dcfg.t_lo = o->t_range.at(0);
      o->dcfg.t_hi = o->t_range.at(1);
    }
    DatasetOptions dopt;
    dopt.split = o->split;
    dopt.target_column = o->target;
    auto data = load_dataset(o->data, dopt);

    if (o->groups.empty())
      throw std::invalid_argument("debias: --groups-dir is required (a directory from `invdiff groups`, or none for the ERM control)");
    if (o->groups == "none") {  // the ERM control has no groups to harden or cross (run's erm row: neither)
      if (cmd->count("--hard-groups") == 0) o->hard = false;
      if (cmd->count("--cross-class") == 0) o->cross_class = false;
    }
    auto gw = load_group_weights(GroupsSource::parse(o->groups), data, o->hard, o->cross_class);
    auto r = debias_train(data, gw.W, o->model, o->gcfg, o->dcfg, o->out, o->resume, device, gw.info, !g.quiet);
    if (g.quiet)  // otherwise debias_train printed the counts when it started
      std::printf("G_psi (%s, %s mix, r = %g): %ld trainable / %ld frozen parameters\n",
                enum_name(r.guidance.variant).c_str(), enum_name(r.guidance.mix).c_str(),
                r.guidance.effective_ratio(), (long)r.parameters["trainable"].get<int64_t>(),
                (long)r.parameters["frozen"].get<int64_t>());
    std::printf("trained %ld steps (%.2f steps/s), final loss %.4f -> %s/checkpoint.pt\n", (long)r.steps_done,
                r.steps_per_second, r.final_loss, o->out.c_str());
  });
}

}  // namespace invdiff::cli
