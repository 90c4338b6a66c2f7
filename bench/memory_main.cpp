// Resident memory and throughput of the three stages that hold a whole training set in memory
// (issue 18): base training, the max step's scoring, the min step. One stage per process, so
// each peak resident set (VmHWM in /proc/self/status) is that stage's alone; bench/memory.sh runs
// them in turn and writes the table.
//   invdiff_memory make   DIR N [R]        N images of R x R (default 64), 2 classes, 2 attribute values
//   invdiff_memory train  DIR OUT STEPS    a small base model (8 channels, 4 levels) -> OUT/base
//   invdiff_memory groups DIR OUT          every image scored once (M = 1) with OUT/base, Otsu groups
//   invdiff_memory debias DIR OUT STEPS    `small` G_psi on OUT/groups with balanced batches -> OUT/guided
// Each stage prints one line: stage, images, the uint8 set's MB, load seconds, images/s of the
// stage, VmHWM after loading and at the end (MB). The model is small on purpose, and has four
// levels so that its middle block's self-attention works on 8 x 8 tokens at 64 px (at 32 x 32 its
// attention maps alone take gigabytes per batch): the quantity under test is what the data
// costs; images/s are those of this model on this machine.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/csv.h"
#include "core/fs.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "invdiff/debias.h"
#include "invdiff/group_weights.h"
#include "invdiff/infer_groups.h"
#include "sampling/any_model.h"
#include "train/trainer.h"

using namespace invdiff;

namespace {
double vm_hwm_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:   123 kB"
  return -1;
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// 8 x 8 blocks of a class colour (red or blue) and an attribute shade, with seeded noise: PNGs
// that compress like photos of flat regions, so 200 k of them fit on a small disk.
void make(const std::string& dir, int64_t n, int r) {
  CsvTable meta;
  meta.header = {"file", "split", "class", "shade"};
  auto gen = at::detail::createCPUGenerator(7);
  for (int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % 2), a = static_cast<int>((i / 2) % 2);
    auto img = torch::randint(0, 32, {3, r / 8, r / 8}, gen, torch::kInt64);
    img[c == 0 ? 0 : 2] += 160;
    img += a ? 48 : 0;
    img = img.clamp(0, 255).to(torch::kUInt8).repeat_interleave(8, 1).repeat_interleave(8, 2);
    char f[40];
    std::snprintf(f, sizeof f, "images/%03ld/%06ld.png", static_cast<long>(i / 1000), static_cast<long>(i));
    write_png(join_path(dir, f), img);
    meta.rows.push_back({f, "train", c ? "blue" : "red", a ? "light" : "dark"});
  }
  write_csv(join_path(dir, "metadata.csv"), meta);
}

void report(const char* stage, const ImageDataset& d, double load_s, double hwm_load, double work, double seconds) {
  std::printf("%s images %ld data_mb %.0f load_s %.1f load_img_per_s %.0f img_per_s %.1f hwm_after_load_mb %.0f hwm_mb %.0f\n",
              stage, (long)d.size(), d.images.numel() * d.images.element_size() / 1048576.0, load_s,
              d.size() / std::max(load_s, 1e-9), work / std::max(seconds, 1e-9), hwm_load, vm_hwm_mb());
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: invdiff_memory make DIR N [R] | train DIR OUT STEPS | groups DIR OUT [BATCH] | debias DIR OUT STEPS\n");
    return 2;
  }
  const std::string cmd = argv[1], dir = argv[2];
  try {
    // As `invdiff` runs: the tuned allocator (it keeps freed heap, so it is part of the peak) and
    // one thread per core unless MEMORY_THREADS says otherwise.
    const char* threads = std::getenv("MEMORY_THREADS");
    init_runtime(threads ? std::atoi(threads) : 0);
    if (cmd == "make") {
      make(dir, std::stoll(argv[3]), argc > 4 ? std::stoi(argv[4]) : 64);
      return 0;
    }
    const std::string out = argv[3];
    auto t0 = std::chrono::steady_clock::now();
    ImageDataset data = load_dataset(dir, {});
    const double load_s = since(t0), hwm_load = vm_hwm_mb();
    const int64_t batch = 64;
    t0 = std::chrono::steady_clock::now();
    if (cmd == "train") {
      UNetConfig u;
      u.base_channels = 8;
      u.channel_mult = {1, 1, 2, 2};
      u.norm_groups = 4;
      TrainConfig tc;
      tc.steps = std::stoll(argv[4]);
      tc.batch_size = batch;
      tc.warmup = 1;
      tc.checkpoint_every = 0;
      train_diffusion(data, u, tc, join_path(out, "base"), false, torch::kCPU, false);
      report("train", data, load_s, hwm_load, double(tc.steps * batch), since(t0));
    } else if (cmd == "groups") {
      GroupsConfig cfg;
      cfg.score.num_timesteps = 1;
      cfg.grouper = GrouperKind::Otsu;
      if (argc > 4) cfg.score.batch_size = std::stoll(argv[4]);  // images per scoring call (default: groups -b's)
      GroupReportOptions ro;
      ro.images = false;
      auto model = load_denoiser(join_path(out, "base"), torch::kCPU);
      infer_groups(data, &model, cfg, join_path(out, "groups"), torch::kCPU, false, ro);
      report("groups", data, load_s, hwm_load, double(data.size()), since(t0));
    } else if (cmd == "debias") {
      auto gw = load_group_weights(GroupsSource::at(join_path(out, "groups")), data, true, true);
      GuidanceConfig g;
      g.variant = GuidanceVariant::Small;
      DebiasConfig dc;
      dc.steps = std::stoll(argv[4]);
      dc.batch_size = batch;
      dc.warmup = 1;
      dc.checkpoint_every = 0;
      dc.balance_batches = true;
      debias_train(data, gw.W, join_path(out, "base"), g, dc, join_path(out, "guided"), false, torch::kCPU, gw.info, false);
      report("debias", data, load_s, hwm_load, double(dc.steps * batch), since(t0));
    } else {
      std::fprintf(stderr, "unknown stage '%s'\n", cmd.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "invdiff_memory: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
