#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/json.h"
#include "data/cfmnist.h"
#include "data/import.h"

namespace invdiff::cli {

namespace {
// `data waterbirds|celeba|fairface`: one set of flags for the three published layouts.
void add_import_command(CLI::App* data, GlobalOptions& g, const std::string& name, const std::string& what) {
  auto* cmd = data->add_subcommand(name, "Import " + what + " (the published folder) as a dataset directory");
  struct Opts {
    std::string from, out, ratios;
    std::vector<std::string> attributes;
    ImportOptions opt;
  };
  auto o = std::make_shared<Opts>();
  o->out = "data/" + name;
  cmd->add_option("--from", o->from, "the published folder, as downloaded")->required();
  cmd->add_option("-o,--out", o->out, "output directory")->capture_default_str();
  cmd->add_option("--resolution", o->opt.resolution, "side of the square images (centre square, resized)")
      ->check(in_range(8, 1024))->capture_default_str();
  cmd->add_option("--target", o->opt.target, "the condition column (default: the dataset's; see README)");
  cmd->add_option("--attributes", o->attributes,
                  "evaluation-only attribute columns, comma-separated (default: the dataset's; 'none': none)")
      ->delimiter(',');
  cmd->add_option("--ratios", o->ratios,
                  "train split drawn at these ratios over target x first attribute cells, target major, e.g. 3:2:1:1 "
                  "('none': the published train split; default: the paper's split where it has one)")
      ->check(CLI::Validator(
          [](std::string& v) {
            try {
              parse_ratios(v);
            } catch (const std::invalid_argument& e) {
              return std::string(e.what());
            }
            return std::string();
          },
          "A:B:..."));
  add_negated_flag(cmd, "--ref-as-published", o->opt.balanced_ref,
                   "keep the published reference split (default: equal images per target x first attribute cell)");
  cmd->add_option("--max-train", o->opt.max_train, "cap on training images (-1: none; ratios are kept)")
      ->check(in_range(-1, 1e15))->capture_default_str();
  cmd->add_option("--max-ref", o->opt.max_ref, "cap on reference images (-1: none)")->check(in_range(-1, 1e15))->capture_default_str();
  if (name != "fairface")  // FairFace publishes train and val only: its val is our ref
    cmd->add_option("--max-val", o->opt.max_val, "cap on the published validation split's images (-1: none, 0: not written)")
        ->check(in_range(-1, 1e15))->capture_default_str();
  cmd->add_option("--seed", o->opt.seed, "seed of the split draws")->check(whole_number())->capture_default_str();
  cmd->callback([o, &g, cmd, name] {
    if (cmd->count("--attributes") > 0)
      o->opt.attributes = o->attributes == std::vector<std::string>{"none"} ? std::vector<std::string>{} : o->attributes;
    if (cmd->count("--ratios") > 0) o->opt.ratios = parse_ratios(o->ratios);
    auto pub = read_published(name, o->from);
    auto m = import_dataset(pub, o->opt, o->out, !g.quiet);
    const std::string val = m["counts"].contains("val") ? ", " + std::to_string(m["counts"]["val"].get<int64_t>()) + " val" : "";
    std::printf("wrote %s: %ld train%s, %ld ref images of %dx%d, target '%s' (%s)\n", o->out.c_str(),
                (long)m["counts"]["train"].get<int64_t>(), val.c_str(), (long)m["counts"]["ref"].get<int64_t>(), o->opt.resolution,
                o->opt.resolution, m["target_column"].get<std::string>().c_str(), m["class_names"].dump().c_str());
  });
}
}  // namespace

void add_data_command(CLI::App& app, GlobalOptions& g) {
  auto* data = app.add_subcommand("data", "Build datasets");
  data->require_subcommand(1);
  data->fallthrough();
  auto* cf = data->add_subcommand("cfmnist", "Build Colored Fashion-MNIST (the embedded benchmark) as a dataset directory");
  struct Opts {
    std::string out = "data/cfmnist";
    std::vector<std::string> classes{"0", "1", "7", "8"};
    CfmnistConfig cfg;
  };
  auto o = std::make_shared<Opts>();
  cf->add_option("-o,--out", o->out, "output directory")->capture_default_str();
  cf->add_option("--classes", o->classes, "garment classes, names or 0-9")->delimiter(',')->capture_default_str();
  cf->add_option_function<std::vector<std::string>>(
        "--attributes",
        [o](const std::vector<std::string>& v) {
          o->cfg.attributes.clear();
          for (const auto& a : v) o->cfg.attributes.push_back(parse_enum<AppearanceKind>(a));
        },
        "biased attributes, each drawn independently: " + join_choices(enum_names<AppearanceKind>()) + " (default: colour)")
      ->delimiter(',');
  cf->add_option("-K,--values", o->cfg.K, "values per attribute (2-6; colour: palette colours)")->check(in_range(2, 6))->capture_default_str();
  add_old_name(cf, "--colours", "--values", o->cfg.K)->check(in_range(2, 6));
  cf->add_option("--rho", o->cfg.rho, "share of each class in its majority value of each attribute (1/K: unbiased)")
      ->check(in_range(0.0, 1.0))->capture_default_str();
  cf->add_option("--resolution", o->cfg.resolution, "16, 28 or 32")->check(CLI::IsMember({16, 28, 32}))->capture_default_str();
  cf->add_option("--seed", o->cfg.seed, "colour draw seed")->check(whole_number())->capture_default_str();
  cf->add_option("--source", o->cfg.source_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  cf->add_option("--max-train-per-class", o->cfg.max_train_per_class, "cap on training images per class (-1: all)")->check(in_range(-1, 1e15));
  cf->add_option("--max-ref-per-class", o->cfg.max_ref_per_class, "cap on reference images per class (-1: all)")->check(in_range(-1, 1e15));
  cf->callback([o, &g] {
    o->cfg.classes.clear();
    for (const auto& c : o->classes) o->cfg.classes.push_back(parse_fashion_class(c));
    build_cfmnist(o->cfg, o->out, !g.quiet);
    std::printf("wrote %s (metadata.csv, manifest.json, images/)\n", o->out.c_str());
  });
  add_import_command(data, g, "waterbirds", "Waterbirds");
  add_import_command(data, g, "celeba", "CelebA (aligned)");
  add_import_command(data, g, "fairface", "FairFace");
}

}  // namespace invdiff::cli
