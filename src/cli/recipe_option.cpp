#include "cli/recipe_option.h"

namespace invdiff::cli {

Recipe stage_recipe(const std::string& name) {
  const Preset quick = get_preset("quick");
  if (name == "official") return official_recipe(quick);
  if (name == "invdiff") return run_recipe(quick, 0);
  throw std::invalid_argument("unknown recipe '" + name + "' (invdiff or official)");
}

CLI::Option* add_recipe_option(CLI::App* cmd, const std::function<void(const Recipe&)>& apply) {
  apply(stage_recipe("invdiff"));
  return cmd
      ->add_option_function<std::string>(
          "--recipe", [apply](const std::string& name) { apply(stage_recipe(name)); },
          "invdiff: the recipe `invdiff run` uses (the defaults shown); official: the paper's (README lists both); "
          "other flags change it")
      ->check(CLI::IsMember({"invdiff", "official"}))
      ->default_str("invdiff");
}

}  // namespace invdiff::cli
