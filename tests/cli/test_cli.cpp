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
  // Built from a git checkout (CI's clean clone is one), the commit is the checkout's HEAD, read
  // at build time: the first 7 hex digits of `git rev-parse HEAD`, not a configure-time leftover.
  if (std::filesystem::exists(std::string(INVDIFF_SOURCE_DIR) + "/.git")) {
    auto head = run_shell(std::string("git -C ") + INVDIFF_SOURCE_DIR + " rev-parse --short=7 HEAD");
    ASSERT_EQ(head.status, 0) << head.output;
    const std::string commit = head.output.substr(0, 7);
    EXPECT_NE(r.output.find("(commit " + commit), std::string::npos) << r.output << " vs HEAD " << commit;
  }
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

// Each value outside its meaningful range is a usage error (exit 2) whose one line names the flag
// and the range in human numbers; flags another flag makes meaningless are refused, not ignored.
// A command line and what its output must contain.
struct Case {
  const char* args;
  const char* says;
};

TEST(Cli, OutOfRangeAndIgnoredFlagsAreRefusedInOneReadableLine) {
  for (const Case& c : std::vector<Case>{
           {"sample -m x -p y -n 0", "--images-per-prompt: must be > 0 (got 0)"},
           {"debias -m x --data y --lambda -1", "--lambda: must be >= 0 (got -1)"},
           {"--threads abc info", "--threads: 'abc' is not a number"},
           {"sample -m x -p y --seed -1", "--seed: must be a whole number >= 0 (got -1)"},
           {"train --data x --seed -1", "--seed: must be a whole number >= 0 (got -1)"},
           {"sample -m x -p y -o s.jpg", "the file name must end in .png (got s.jpg)"},
           {"sample -m x -p y --cfg-scale -5", "--cfg-scale: must be in [0, 50] (got -5)"},
           {"eval --data x --reference --cfg-scale 1e9", "--cfg-scale: must be in [0, 50] (got 1e9)"},
           {"sample -m x -p y --guidance-ratio 1e9", "--guidance-ratio: must be in [0, 10] (got 1e9)"},
           {"debias -m x --data y --guidance-ratio -1", "--guidance-ratio: must be in [0, 10] (got -1)"},
           {"sample -m x -p y --eta 2", "--eta: must be in [0, 1] (got 2)"},
           {"--device tpu info", "unknown device 'tpu' (expected cpu, cuda or cuda:N)"},
           {"groups --data x -G 8 --grouper cluster", "-G/--groups sets the std grouper's group count; the cluster"},
           {"groups --data x --oracle class_name -m m", "--model would be ignored: --oracle writes groups"},
           {"train --data x --resume -b 32", "--batch-size would be ignored by --resume"},
           {"train --data x --resume --ch 16 --lr 1", "--ch, --lr would be ignored by --resume"},
           {"debias -m x --data y --resume --variant lora", "--variant would be ignored by --resume"},
           {"train --data x --ema-decay 1.5", "--ema-decay: must be in [0, 1] (got 1.5)"},
           {"data cfmnist --max-train-per-class -5", "must be in [-1, 1e+15] (got -5)"},
           {"groups --data x --scores s.csv -m m", "--model excludes --scores"},
           {"sample -m x -p y --sampling-method ddpm --eta 0.5", "--eta would be ignored: it applies to the ddim"},
           {"eval --data x --reference --sampling-method dpm++2m --eta 1", "--eta would be ignored"},
           {"debias -m x --data y --variant copy --lora-rank 8", "--lora-rank would be ignored: it applies to --variant lora"},
           {"debias -m x --data y --variant copy --small-ch 8", "--small-ch would be ignored: it applies to --variant small"},
           {"debias -m x --data y --profile-floor 0.2", "--profile-floor would be ignored: it applies to --t-sampling profile"},
           {"debias -m x --data y --profile-power 2", "--profile-power would be ignored: it applies to --t-sampling profile"},
           {"debias -m x --data y --t-sampling profile --profile-power 0", "--profile-power: must be in [0.001, 16] (got 0)"},
           {"debias -m x --data y --t-sampling sometimes", "sometimes"},
           {"groups --data x --score single-t -M 4", "-M would be ignored: it applies to --score multi-t only"},
           {"groups --data x --timesteps 100,900 -M 4", "-M would be ignored: --timesteps lists the timesteps"},
           {"groups --data x --grouper otsu --grouper-steps 10", "--grouper-steps would be ignored: it applies to --grouper std"},
           {"groups --data x --grouper std --feature-pool 4", "--feature-pool would be ignored: it applies to --grouper cluster"},
           {"groups --data x --refine-draws 0 --select-samples 10", "--select-samples would be ignored: it applies to --refine-draws"},
           {"groups --data x --score single-t --refine-draws 2", "--refine-draws would be ignored: it applies to --score multi-t"},
           {"groups --data x --no-select-timestep --refine-draws 2", "--refine-draws would be ignored: it applies to --select-timestep"},
           {"groups --data x --recipe paper", "--recipe: paper not in"},
           {"groups --data x --grouper cluster --cluster-features residual --hidden-t 0.1", "--hidden-t would be ignored: it applies to --cluster-features hidden, both or auto"},
           {"groups --data x --grouper cluster --clusters 2 --max-clusters 3", "--max-clusters would be ignored: it applies to --clusters 0 only"},
           {"groups --data x --grouper cluster --clusters 2 --choose-k split", "--choose-k would be ignored: it applies to --clusters 0 only"},
           {"debias -m x --data y --no-balance-batches --balance-within-condition", "--balance-within-condition would be ignored: it applies to --balance-batches only"},
           {"groups --data x --grouper cluster --no-whiten --robust-whiten", "--robust-whiten would be ignored: --no-whiten turns whitening off"},
           {"groups --data x --grouper cluster --cluster-features hidden --hidden-t 1.5", "--hidden-t"},
           {"groups --data x --scores s.csv -b 8", "--batch-size would be ignored: --scores reads the scores"},
           {"groups --data x --no-images --per-group 4", "--per-group would be ignored: --no-images"},
       }) {
    auto r = run_cli(c.args);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.output;
    EXPECT_EQ(lines(r.output), 1) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("invdiff: error: ", 0), 0u) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.find("e+308"), std::string::npos) << c.args << "\n" << r.output;
  }
}

// Renamed flags still parse, print their new name, and hide from --help.
TEST(Cli, OldFlagNamesPrintTheirNewName) {
  // A later bad value stops each command after parsing the old name (its note comes first).
  for (const Case& c : std::vector<Case>{
           {"bench --base m --seeds 0", "note: --base is now --model"},
           {"bench --samples-per-class 5 --debias-steps 0", "note: --samples-per-class is now --images-per-prompt"},
           {"run --steps 5 --seed -1", "note: --steps is now --base-steps"},
           {"run --samples-per-class 5 --seed -1", "note: --samples-per-class is now --images-per-prompt"},
           {"eval --data x --num 3 --kid-subsets 0", "note: --num is now --images-per-prompt"},
           {"eval --data x --steps 3 --kid-subsets 0", "note: --steps is now --sampling-steps"},
           {"eval --data x --gen-batch-size 2 --kid-subsets 0", "note: --gen-batch-size is now --batch-size"},
           {"sample -m x -p y --num 2 --steps 3 --seed -1", "note: --steps is now --sampling-steps"},
           {"classifier train --data x --column c --seed -1", "note: --column is now --target"},
       }) {
    auto r = run_cli(c.args);
    EXPECT_EQ(r.status, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << "\n" << r.output;
  }
  for (const Case& c : std::vector<Case>{{"bench", "--base "},
                                         {"bench", "--samples-per-class"},
                                         {"run", "--samples-per-class"},
                                         {"run", "--steps"},
                                         {"eval", "--num "},
                                         {"eval", "--gen-batch-size"},
                                         {"eval", "--steps"},
                                         {"sample", "--num "},
                                         {"sample", "--steps"},
                                         {"classifier train", "--column"},
                                         {"debias", "--groups "}}) {
    auto h = run_cli(std::string(c.args) + " --help");
    EXPECT_EQ(h.status, 0) << c.args;
    EXPECT_EQ(h.output.find(c.says), std::string::npos) << c.args << " --help shows " << c.says;
  }
}

// One name per meaning: -m model, -n images per prompt, -b batch size, --target the condition
// column, on every command that has the thing; negated flags render without "{false}".
TEST(Cli, OneFlagNamePerMeaningAcrossCommands) {
  auto help = [](const std::string& cmd) { return run_cli(cmd + " --help").output; };
  for (const char* cmd : {"groups", "debias", "sample", "eval", "bench", "run", "info"})
    EXPECT_NE(help(cmd).find("-m,--model"), std::string::npos) << cmd;
  for (const char* cmd : {"sample", "eval", "run", "bench"})
    EXPECT_NE(help(cmd).find("-n,--images-per-prompt"), std::string::npos) << cmd;
  for (const char* cmd : {"train", "groups", "debias", "sample", "eval", "classifier train"})
    EXPECT_NE(help(cmd).find("-b,--batch-size"), std::string::npos) << cmd;
  for (const char* cmd : {"train", "groups", "debias", "eval", "classifier train", "run", "bench"})
    EXPECT_NE(help(cmd).find("--target"), std::string::npos) << cmd;
  for (const char* cmd : {"run", "bench"}) EXPECT_NE(help(cmd).find("--attribute"), std::string::npos) << cmd;
  for (const char* cmd : {"sample", "eval"}) EXPECT_NE(help(cmd).find("--sampling-steps"), std::string::npos) << cmd;
  EXPECT_NE(help("run").find("--base-steps"), std::string::npos);
  for (const char* cmd : {"sample", "eval", "groups", "classifier train"})
    EXPECT_EQ(help(cmd).find("{false}"), std::string::npos) << cmd;
}

// README's CLI reference is the binary's --help (scripts/cli_reference.sh writes it).
TEST(Cli, ReadmeReferenceMatchesHelp) {
  std::string cmd = std::string("INVDIFF=") + INVDIFF_CLI_PATH + " README=" + INVDIFF_SOURCE_DIR + "/README.md " +
                    INVDIFF_SOURCE_DIR + "/scripts/cli_reference.sh --check 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  EXPECT_EQ(WEXITSTATUS(st), 0) << out.substr(0, 4000);
}
