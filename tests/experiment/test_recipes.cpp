// The recipes of the bench rows: typed configs whose JSON (what stage keys hold) differs between
// the rows only in their groups. The other layers' config JSON is tested beside them
// (tests/model, tests/train, tests/invdiff).
#include <gtest/gtest.h>

#include "experiment/recipes.h"
#include "fixtures.h"

using namespace invdiff;

TEST(Configs, RecipeRowsDifferOnlyInTheirGroups) {
  auto p = get_preset("quick");
  auto inv = nlohmann::json(invdiff_recipe(p)), erm = nlohmann::json(erm_recipe(p)), orc = nlohmann::json(oracle_recipe(p));
  EXPECT_EQ(erm["groups"], "none");
  EXPECT_EQ(orc["groups"], "oracle");
  EXPECT_EQ(inv["guidance"], erm["guidance"]);
  EXPECT_EQ(inv["debias"], orc["debias"]);
  EXPECT_EQ(inv["debias"]["t_hi"], 900);
  EXPECT_TRUE(inv["debias"]["balance_batches"].get<bool>());  // issue 16: group-balanced batches
  EXPECT_EQ(inv["debias"], erm["debias"]);                        // the ERM control draws the same way (uniform: one group)
  EXPECT_EQ(inv["groups_cfg"]["grouper"], "cluster");
  EXPECT_EQ(inv["groups_cfg"]["cluster"]["clusters"], 0);  // issue 15: k per prompt by the split rule
  EXPECT_EQ(inv["groups_cfg"]["cluster"]["choose_k"], "split");
}
