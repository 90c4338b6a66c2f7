#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/reweight.h"
#include "train/trainer.h"

namespace invdiff::cli {

void add_unet_options(CLI::App* cmd, UNetConfig& u) {
  cmd->add_option("--ch", u.base_channels, "UNet base channels")->check(positive())->capture_default_str();
  cmd->add_option("--ch-mult", u.channel_mult, "channel multiplier per level")->delimiter(',')->capture_default_str();
  cmd->add_option("--res-blocks", u.num_res_blocks, "residual blocks per level")->check(positive())->capture_default_str();
  cmd->add_option("--attn", u.attention_resolutions, "feature-map sizes with self-attention")->delimiter(',')->capture_default_str();
  cmd->add_option("--heads", u.num_heads, "attention heads")->check(positive())->capture_default_str();
  cmd->add_option("--norm-groups", u.norm_groups, "GroupNorm groups")->check(positive())->capture_default_str();
  cmd->add_option("--dropout", u.dropout, "dropout in residual blocks")->check(in_range(0, 0.99))->capture_default_str();
}

void add_optim_options(CLI::App* cmd, OptimConfig& t) {
  cmd->add_option("--steps", t.steps, "optimiser steps")->check(positive())->capture_default_str();
  cmd->add_option("-b,--batch-size", t.batch_size, "batch size")->check(positive())->capture_default_str();
  cmd->add_option("--lr", t.lr, "peak learning rate (AdamW)")->check(positive())->capture_default_str();
  cmd->add_option("--warmup", t.warmup, "linear warm-up steps")->check(non_negative())->capture_default_str();
  cmd->add_option("--min-lr-ratio", t.min_lr_ratio, "final learning rate of the cosine decay, as a share of --lr")
      ->check(in_range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--weight-decay", t.weight_decay, "AdamW weight decay")->check(non_negative())->capture_default_str();
  cmd->add_option("--grad-clip", t.grad_clip, "gradient norm clip (0: off)")->check(non_negative())->capture_default_str();
  cmd->add_option("--ema-decay", t.ema_decay, "EMA decay (with warm-up)")->check(in_range(0, 1))->capture_default_str();
  cmd->add_option("--p-uncond", t.p_uncond, "condition dropout for classifier-free guidance")->check(in_range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--seed", t.seed, "seed for init, batches and noise")->check(whole_number())->capture_default_str();
  cmd->add_option("--checkpoint-every", t.checkpoint_every, "steps between checkpoints (0: only at the end)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--snapshot-every", t.snapshot_every,
                  "keep a copy of the checkpoint every N steps in OUT/snapshots/step_N.pt, for a metric against steps (0: none)")
      ->check(non_negative())->capture_default_str();
}

void add_train_options(CLI::App* cmd, TrainConfig& t) {
  add_optim_options(cmd, t);
  cmd->add_option("--schedule", t.schedule, "noise schedule: linear or cosine")->check(CLI::IsMember({"linear", "cosine"}))->capture_default_str();
  cmd->add_option("--T", t.T, "diffusion timesteps")->check(in_range(2, 100000))->capture_default_str();
  cmd->add_option("--init-from", t.init_from,
                  "fine-tune from this checkpoint's EMA weights (its architecture and classes; refuses others)");
}

void add_train_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("train", "Train the base conditional diffusion model on a dataset directory");
  struct Opts {
    std::string data, out = "runs/base", target, split = "train";
    bool resume = false;
    int64_t limit = -1;
    std::vector<std::string> reweight;
    UNetConfig unet;
    TrainConfig train;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "dataset directory (metadata.csv + images)")->required();
  cmd->add_option("-o,--out", o->out, "output directory")->capture_default_str();
  cmd->add_option("--target", o->target, "condition column (default: the manifest's, else 'class')");
  cmd->add_option("--split", o->split, "dataset split to train on")->capture_default_str();
  cmd->add_flag("--resume", o->resume, "continue the checkpoint in --out");
  cmd->add_option("--limit", o->limit, "use only the first N training rows (-1: all)")->check(in_range(-1, 1e15));
  cmd->add_option("--reweight", o->reweight,
                  "labelled baseline: weight samples by 1/|group| of these metadata columns (e.g. class_name,colour_name)")
      ->delimiter(',');
  add_unet_options(cmd, o->unet);
  add_train_options(cmd, o->train);
  cmd->callback([o, &g, cmd] {
    if (o->resume)  // the stored run's configuration wins: say so instead of ignoring the flags
      refuse_given_except(cmd, {"--data", "--out", "--target", "--split", "--limit", "--reweight", "--steps", "--resume"},
                          "by --resume (the run continues with its stored configuration; only --steps may grow)");
    setup_runtime(g);
    auto device = parse_device(g.device);
    DatasetOptions dopt;
    dopt.split = o->split;
    dopt.target_column = o->target;
    dopt.limit = o->limit;
    auto data = load_dataset(o->data, dopt);
    std::printf("dataset %s (split %s): %ld images of %ldx%ld, %zu classes\n", o->data.c_str(), o->split.c_str(), (long)data.size(),
                (long)data.images.size(2), (long)data.images.size(3), data.class_names.size());
    at::Tensor weights;
    if (!o->reweight.empty()) weights = inverse_frequency_weights(load_metadata(o->data, o->split), data.files, o->reweight);
    auto r = train_diffusion(data, o->unet, o->train, o->out, o->resume, device, !g.quiet, -1, weights);
    std::printf("trained %ld steps (%.2f steps/s), final loss %.4f -> %s/checkpoint.pt\n", (long)r.steps_done,
                r.steps_per_second, r.final_loss, o->out.c_str());
  });
}

}  // namespace invdiff::cli
