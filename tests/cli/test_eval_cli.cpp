// `invdiff eval` through the CLI: a reference run on the eval tests' tiny cfmnist and classifier
// (tests/eval/eval_fixture.h), and a one-line error.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/fs.h"
#include "eval/eval_fixture.h"
#include "fixtures.h"

using namespace invdiff;
using invdiff_test::EvalTest;

TEST_F(EvalTest, CliReferenceRunAndOneLineErrors) {
  // The default classifier (OUT/../classifier) is used for the dataset it was trained on ...
  std::filesystem::create_directories(path("cli_run"));
  std::filesystem::copy(clf(), path("cli_run/classifier"), std::filesystem::copy_options::recursive);
  auto r = run_cli("-q --threads 1 eval --data " + data() + " --reference --kid-subsets 5 -o " + path("cli_run/out"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(file_exists(path("cli_run/out/metrics.json")));
  EXPECT_NE(r.output.find("eval: using the classifier in " + path("cli_run/classifier")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("faithfulness"), std::string::npos) << r.output;

  // ... and refused, naming both datasets, for another one with the same classes and file names.
  std::string changed = path("cfm_changed");
  std::filesystem::copy(data(), changed, std::filesystem::copy_options::recursive);
  auto ref = load_metadata(changed, "ref");
  const size_t fc = ref.column("file");
  std::filesystem::copy_file(join_path(changed, ref.rows[1][fc]), join_path(changed, ref.rows[0][fc]),
                             std::filesystem::copy_options::overwrite_existing);
  r = run_cli("-q --threads 1 eval --data " + changed + " --reference --kid-subsets 5 -o " + path("cli_run/out2"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("invdiff: error: eval: the default classifier in " + path("cli_run/classifier") +
                          " (pass --classifier to use another): made from " + absolute_path(data()) + " (split 'ref'"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("but the dataset here is " + absolute_path(changed)), std::string::npos) << r.output;

  r = run_cli("-q eval --data " + data() + " --images " + path("nope") + " --classifier " + clf() + " -o " + path("cli_bad"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.output, "invdiff: error: image folder not found: " + path("nope") + "\n");
}
