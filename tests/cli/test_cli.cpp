#include <gtest/gtest.h>

#include "core/fs.h"
#include "fixtures.h"

static int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Cli, MissingDatasetIsOneLineError) {
  auto r = run_cli("-q train --data /nonexistent/dir -o /tmp/x --steps 1");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("dataset directory not found: /nonexistent/dir"), std::string::npos) << r.output;
}

TEST(Cli, UnknownClassNameIsOneLineError) {
  auto r = run_cli("data cfmnist --classes 0,Jumper -o /tmp/never_written");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("unknown Fashion-MNIST class 'Jumper'"), std::string::npos) << r.output;
}

TEST(Cli, BadFlagValuesExitNonZero) {
  for (const char* args : {"data cfmnist --rho 1.5", "data cfmnist --resolution 20", "train --data x --steps -3",
                           "sample -m x -p y --sampling-method euler", "--threads -2 info", "train --bogus"}) {
    auto r = run_cli(args);
    EXPECT_NE(r.status, 0) << args << "\n" << r.output;
    EXPECT_LE(lines(r.output), 2) << args << "\n" << r.output;
  }
}

TEST(Cli, UnknownPromptNamesTheKnownClasses) {
  TempDir d;
  // A checkpoint is needed to know the classes; a missing one must say so.
  auto r = run_cli("-q sample -m " + d.path + "/none.pt -p Trouser -o " + d.path + "/x.png");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("checkpoint not found"), std::string::npos) << r.output;
}

TEST(Cli, UsageErrorsAreOneLineWithExitCodeTwo) {
  for (const char* args : {"train --bogus", "--threads abc info", "sample -m x -p y -n 0", "nosuchcommand"}) {
    auto r = run_cli(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_EQ(lines(r.output), 1) << args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("invdiff: error: ", 0), 0u) << args << "\n" << r.output;
  }
  // Bad input found after parsing keeps exit code 1.
  EXPECT_EQ(run_cli("-q train --data /nonexistent/dir -o /tmp/x --steps 1").status, 1);
}

TEST(Cli, VersionNamesCommitLibtorchBlasAndCuda) {
  auto r = run_cli("--version");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("invdiff 0.1.0 (commit ", 0), 0u) << r.output;
  for (const char* part : {"libtorch ", ", BLAS ", ", CUDA "}) EXPECT_NE(r.output.find(part), std::string::npos) << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
}

TEST(Cli, BenchSettingsAreCheckedBeforeAnyWork) {
  using invdiff::file_exists;
  using invdiff::join_path;
  TempDir d;
  const std::string out = join_path(d.path, "bench");
  auto r = run_cli("-q bench --data " + join_path(d.path, "data") + " -o " + out + " --rows oracle --set debias.lrr=1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("--set debias.lrr: no such setting (lrr is not one of: balance_batches,"), std::string::npos)
      << r.output;
  EXPECT_FALSE(file_exists(out));  // nothing built, nothing trained
  r = run_cli("-q data cfmnist --attributes colour,shape -o " + join_path(d.path, "x"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("unknown attribute 'shape' (colour, brightness, scale, position, background, blur or stroke)"),
            std::string::npos)
      << r.output;
}
