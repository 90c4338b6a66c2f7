#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/runtime.h"
#include "eval/classifier.h"
#include "eval/classifier_train.h"

namespace invdiff::cli {

void add_classifier_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("classifier", "Evaluation classifiers (faithfulness judge, FD features, attributes)");
  cmd->require_subcommand(1);
  auto* tr = cmd->add_subcommand("train", "Train a classifier on one column of a dataset directory");
  struct Opts {
    std::string data, out = "runs/classifier";
    ClassifierTrainConfig cfg;
  };
  auto o = std::make_shared<Opts>();
  tr->add_option("--data", o->data, "dataset directory (metadata.csv + images)")->required();
  tr->add_option("-o,--out", o->out, "output directory (checkpoint.pt, metrics.json)")->capture_default_str();
  tr->add_option("--target", o->cfg.column, "label column (default: the manifest's target, e.g. class_name)");
  add_old_name(tr, "--column", "--target", o->cfg.column);
  tr->add_option("--split", o->cfg.split, "split to train on (ref: balanced, see docs/evaluation.md)")->capture_default_str();
  tr->add_option("--epochs", o->cfg.epochs, "passes over the training part")->check(positive())->capture_default_str();
  tr->add_option("--steps", o->cfg.steps, "optimiser steps (overrides --epochs)")->check(non_negative());
  tr->add_option("-b,--batch-size", o->cfg.batch_size, "batch size")->check(positive())->capture_default_str();
  tr->add_option("--lr", o->cfg.lr, "peak learning rate (AdamW, warm-up then cosine)")->check(positive())->capture_default_str();
  tr->add_option("--weight-decay", o->cfg.weight_decay, "AdamW weight decay")->check(non_negative())->capture_default_str();
  tr->add_option("--val-fraction", o->cfg.val_fraction, "held-out share, stratified")->check(in_range(0.0, 0.9))->capture_default_str();
  add_negated_flag(tr, "--no-augment", o->cfg.augment, "no random shifts / flips");
  tr->add_option("--width", o->cfg.net.width, "channels of the first stage (doubled per stage)")->check(positive())->capture_default_str();
  tr->add_option("--feature-dim", o->cfg.net.feature_dim, "penultimate (feature) layer size")->check(positive())->capture_default_str();
  tr->add_option("--seed", o->cfg.seed, "seed for init, split, batches, augmentation")->check(whole_number())->capture_default_str();
  tr->callback([o, &g] {
    setup_runtime(g);
    auto device = parse_device(g.device);
    ClassifierTrainResult r;
    auto c = train_classifier(o->data, o->cfg, o->out, device, !g.quiet, &r);
    std::printf("classifier on column '%s' (%ld classes), %ld train / %ld val images, %ld steps in %.1f s\n",
                c.column.c_str(), (long)c.num_classes(), (long)r.train_size, (long)r.val_size, (long)r.steps, r.seconds);
    if (r.val_size > 0)
      std::printf("validation: accuracy %.4f, macro-F1 %.4f\n", r.val_accuracy, r.val_macro_f1);
    std::printf("wrote %s (and metrics.json)\n", c.path.c_str());
  });
}

}  // namespace invdiff::cli
