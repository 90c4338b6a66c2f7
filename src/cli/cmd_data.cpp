#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/json.h"
#include "data/cfmnist.h"

namespace invdiff::cli {

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
}

}  // namespace invdiff::cli
