// The suite's shared fixtures: a self-deleting temporary directory, a CLI runner, a one-thread
// guard, the tiny UNet configs, and tiny datasets: a synthetic Fashion-MNIST (IDX files in the
// real set's format) and the tiny cfmnist and tiny base model built from it.
//
// Only the tests that need the real garments read Debian's dataset-fashion-mnist
// (/usr/share/datasets/fashion-mnist, installed by scripts/setup.sh); every other test builds
// its cfmnist from the synthetic set, so none of them depends on what a machine has installed.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include "model/unet.h"

struct TempDir {
  std::string path;
  TempDir() {
    std::random_device rd;
    path = (std::filesystem::temp_directory_path() / ("invdiff_test_" + std::to_string(::getpid()) + "_" +
                                                      std::to_string(rd())))
               .string();
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// The message of the exception f throws, or "<no error>".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

// How often `what` occurs in s (overlaps counted).
inline size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

struct CliResult {
  int status;
  std::string output;  // stdout + stderr
};

// Runs a shell command line; its stdout and stderr together.
inline CliResult run_shell(const std::string& command) {
  std::string cmd = command + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  return {WEXITSTATUS(st), out};
}

// Runs the invdiff binary built beside the tests with the given arguments.
inline CliResult run_cli(const std::string& args) { return run_shell(std::string(INVDIFF_CLI_PATH) + " " + args); }

// Tiny tensors: one thread avoids OpenMP hand-off costs, which dominate on a busy machine.
// Restores the previous count on scope exit.
struct OneThread {
  int saved = torch::get_num_threads();
  OneThread() { torch::set_num_threads(1); }
  ~OneThread() { torch::set_num_threads(saved); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;
};

// A file or folder under tests/fixtures/diffusers/ (diffusers' golden checkpoints and outputs).
inline std::string diffusers_fixture(const std::string& rel = "") {
  return std::string(INVDIFF_SOURCE_DIR) + "/tests/fixtures/diffusers/" + rel;
}

// A tiny randomly initialised (seed 0) class-conditional diffusers UNet2DModel folder, 3 x 16 x 16,
// one condition per name (class_names.json), DDPMScheduler's default schedule.
void write_tiny_unet2d(const std::string& dir, const std::vector<std::string>& classes);

// ---- tiny UNets ----------------------------------------------------------------------------

// Two levels (x1, x2) of `base_channels` channels, GroupNorm over 4 groups; image size and class
// count are UNetConfig's defaults (16 x 16, 4 classes: cfmnist's) unless given.
invdiff::UNetConfig tiny_unet(int base_channels = 8, std::optional<int> image_size = {},
                              std::optional<int> num_classes = {});
// One level of 8 channels, default GroupNorm: the smallest model that samples 16 x 16 images,
// used untrained (randomly initialised) where only the plumbing is under test.
invdiff::UNetConfig one_level_unet(int num_classes);

// ---- tiny datasets ---------------------------------------------------------------------------

// Images per class in the synthetic set of synthetic_fashion_mnist().
constexpr int kSyntheticTrainPerClass = 40;  // train-*: 400 images
constexpr int kSyntheticTestPerClass = 24;   // t10k-*: 240 images

// Writes a small Fashion-MNIST look-alike in the real set's four files and format:
// {train,t10k}-images-idx3-ubyte.gz ([N, 28, 28] uint8) and {train,t10k}-labels-idx1-ubyte.gz
// ([N] uint8, labels cycling 0, 1, ..., 9). Each class is one filled shape of its own geometry
// (a T, two legs, a block, a triangle, ...), shifted by up to 1 pixel and drawn at an intensity
// of 170-255 per image from a fixed seed: the same bytes on every machine, and classes a tiny
// classifier tells apart.
void write_synthetic_fashion_mnist(const std::string& dir, int train_per_class = kSyntheticTrainPerClass,
                                   int test_per_class = kSyntheticTestPerClass);
// The set above, written once per test process into a temporary directory removed at exit: the
// source_dir (or `data cfmnist --source`) of every test-built cfmnist.
const std::string& synthetic_fashion_mnist();

// A generic dataset (no manifest): 16 x 16 PNGs, metadata.csv with file, split, class (a: a red
// square, b: a blue disc-ish blot) and shade (dark, light: the background's brightness), `train`
// images per (class, shade) cell of train at 3:1 majority (class a mostly dark, b mostly light)
// and `ref` per cell of ref (balanced). Seeded noise: the same bytes on every machine.
void write_generic_dataset(const std::string& dir, int train, int ref);

// A cfmnist (default settings) of `train` and `ref` images per class in dir, from the synthetic set.
void tiny_cfmnist(const std::string& dir, int64_t train, int64_t ref);
// A tiny base model (tiny_unet(16)) trained for `steps` steps (batch 16, 2 warm-up) on
// data_dir into dir.
void tiny_base(const std::string& data_dir, const std::string& dir, int64_t steps);
