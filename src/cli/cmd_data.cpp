#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
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
  cf->add_option("-K,--values", o->cfg.K, "values per attribute (2-6; colour: palette colours)")->check(CLI::Range(2, 6))->capture_default_str();
  cf->add_option_function<int>("--colours", [o](int k) {
        std::fprintf(stderr, "note: --colours is now -K/--values (the old name goes in the next release)\n");
        o->cfg.K = k;
      }, "old name of --values")->check(CLI::Range(2, 6))->group("");
  cf->add_option("--rho", o->cfg.rho, "share of each class in its majority value of each attribute (1/K: unbiased)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cf->add_option("--resolution", o->cfg.resolution, "16, 28 or 32")->check(CLI::IsMember({16, 28, 32}))->capture_default_str();
  cf->add_option("--seed", o->cfg.seed, "colour draw seed")->capture_default_str();
  cf->add_option("--source", o->cfg.source_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  cf->add_option("--max-train-per-class", o->cfg.max_train_per_class, "cap on training images per class (-1: all)");
  cf->add_option("--max-ref-per-class", o->cfg.max_ref_per_class, "cap on reference images per class (-1: all)");
  cf->callback([o, &g] {
    o->cfg.classes.clear();
    for (const auto& c : o->classes) o->cfg.classes.push_back(parse_fashion_class(c));
    build_cfmnist(o->cfg, o->out, !g.quiet);
    std::printf("wrote %s (metadata.csv, manifest.json, images/)\n", o->out.c_str());
  });
}

}  // namespace invdiff::cli
