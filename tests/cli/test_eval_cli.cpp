// `invdiff eval` through the CLI: a reference run on the eval tests' tiny cfmnist and classifier
// (tests/eval/eval_fixture.h), and a one-line error.
#include <gtest/gtest.h>

#include <string>

#include "core/fs.h"
#include "eval/eval_fixture.h"
#include "fixtures.h"

using namespace invdiff;
using invdiff_test::EvalTest;

TEST_F(EvalTest, CliReferenceRunAndOneLineErrors) {
  auto r = run_cli("-q --threads 1 eval --data " + data() + " --reference --classifier " + clf() + " --kid-subsets 5 -o " +
                   path("cli_out"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(file_exists(path("cli_out/metrics.json")));
  EXPECT_NE(r.output.find("faithfulness"), std::string::npos) << r.output;

  r = run_cli("-q eval --data " + data() + " --images " + path("nope") + " --classifier " + clf() + " -o " + path("cli_bad"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.output, "invdiff: error: image folder not found: " + path("nope") + "\n");
}
