// One writer per output directory: a second claim is refused in one line naming the holder, the
// claim ends with its owner, and the training loops and bench take it before touching anything.
#include <gtest/gtest.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "core/dir_lock.h"
#include "core/fs.h"
#include "experiment/bench.h"
#include "fixtures.h"
#include "train/training_run.h"

using namespace invdiff;

namespace {
std::string refusal(const std::string& dir, const std::string& what) {
  try {
    DirLock second(dir, what);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(DirLock, SecondClaimIsRefusedNamingTheHolderAndEndsWithIt) {
  TempDir d;
  const std::string dir = join_path(d.path, "out");
  {
    DirLock first(dir, "bench");  // creates the directory
    EXPECT_TRUE(file_exists(join_path(dir, ".invdiff.lock")));
    const std::string msg = refusal(dir, "train");
    EXPECT_EQ(msg, dir + " is in use by invdiff bench (pid " + std::to_string(::getpid()) +
                       "); wait for it to end or choose another -o");
    EXPECT_EQ(msg.find('\n'), std::string::npos);
    EXPECT_EQ(refusal(join_path(d.path, "other"), "train"), "");  // another directory is free
  }
  EXPECT_EQ(refusal(dir, "train"), "");  // released with its owner, though the file stays
}

TEST(DirLock, TrainingLoopAndBenchClaimTheirDirectoryBeforeAnyWork) {
  TempDir d;
  const std::string dir = join_path(d.path, "run");
  DirLock holder(dir, "debias");
  try {
    TrainingRun run("train", dir, {}, /*resume=*/true);
    FAIL() << "a second writer was let in";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("is in use by invdiff debias"), std::string::npos) << e.what();
  }
  BenchOptions o;
  o.out = dir;
  o.data = join_path(d.path, "no_dataset_yet");
  try {
    run_bench(o, torch::kCPU, false);
    FAIL() << "bench ran in a claimed directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("is in use by invdiff debias"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(file_exists(join_path(d.path, "no_dataset_yet")));  // refused before the dataset was built
  EXPECT_FALSE(file_exists(join_path(dir, "loss.csv")));
}
