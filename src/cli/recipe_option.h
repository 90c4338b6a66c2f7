// --recipe on the stage commands (`groups`, `debias`): the recipe a stage run by hand starts
// from. `invdiff` (the default) is the one `invdiff run` uses, at the quick preset's budgets
// and seed 0, so the stages by hand give what `run` gives; `official` is the paper's. The
// config structs keep their own defaults (they feed stage keys); the recipe is applied here, at
// the CLI edge. Flags given on the command line change the recipe, whatever their order:
// CLI11 runs option callbacks in the order the options were defined, and --recipe is defined
// first (add_recipe_option before every other option of the command).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "experiment/recipes.h"

namespace invdiff::cli {

// "invdiff" or "official" (the CLI checks the name).
Recipe stage_recipe(const std::string& name);
// Applies the invdiff recipe now (so --help shows its values as the defaults) and adds --recipe,
// which applies the named one when given.
CLI::Option* add_recipe_option(CLI::App* cmd, const std::function<void(const Recipe&)>& apply);

}  // namespace invdiff::cli
