// C++ side of the C++-vs-PyTorch comparison: the same workloads as bench/torch_ref.py, same
// model, batch and threads; prints one JSON line with the median seconds per iteration.
//   build/invdiff_perf --workload train|guided|sample --threads 2 --iters 20 [--variant copy|small|lora]
// Ablation switches (bench/ablate.sh: each optimisation's before/after):
//   --malloc default      glibc's mmap/trim thresholds instead of init_runtime's tuned ones
//   --naive-base 1        guided: the frozen base runs under autograd with its weights trainable
//                         (backward goes through it; only G_psi is stepped), as a naive port would
//   --inference-mode 1    sample: c10::InferenceMode around the loop (the sampler uses NoGradGuard)
//   --channels-last 1     weights and inputs in channels-last memory format
// --profile FILE records the timed iterations with libtorch's profiler (a chrome trace;
// bench/profile_ops.py sums each op's self time).
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/runtime.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "invdiff/group_loss.h"
#include "invdiff/guidance.h"
#include "model/unet.h"
#include "train/ema.h"

using namespace invdiff;

int main(int argc, char** argv) {
  std::string workload;
  int threads = 2, iters = 20, warmup = 3, steps = 50;
  int64_t B = 64, groups = 8;
  std::string variant = "copy", malloc_mode = "tuned", profile;
  bool naive_base = false, inference_mode = false, channels_last = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--workload") workload = v;
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--iters") iters = std::stoi(v);
    else if (k == "--warmup") warmup = std::stoi(v);
    else if (k == "--batch") B = std::stoll(v);
    else if (k == "--steps") steps = std::stoi(v);
    else if (k == "--groups") groups = std::stoll(v);
    else if (k == "--variant") variant = v;
    else if (k == "--malloc") malloc_mode = v;
    else if (k == "--profile") profile = v;
    else if (k == "--naive-base") naive_base = v == "1";
    else if (k == "--inference-mode") inference_mode = v == "1";
    else if (k == "--channels-last") channels_last = v == "1";
    else { std::fprintf(stderr, "unknown flag %s\n", k.c_str()); return 2; }
  }
  if (malloc_mode != "tuned" && malloc_mode != "default") {
    std::fprintf(stderr, "--malloc must be tuned or default\n");
    return 2;
  }
  init_runtime(threads, malloc_mode == "tuned");
  torch::manual_seed(0);
  const int T = 1000;
  auto sch = NoiseSchedule::linear(T);
  UNet net(UNetConfig{});
  auto x0 = torch::rand({B, 3, 16, 16}) * 2 - 1;
  if (channels_last) {
    torch::NoGradGuard ng;
    for (auto& p : net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    x0 = x0.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  auto y = torch::randint(0, 4, {B}, torch::kInt64);
  std::function<void()> work;
  long g_params = 0;  // guided: G_psi's trainable parameters (torch_ref.py prints the same count)
  UNet ema(UNetConfig{});
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0));

  if (workload == "train") {
    copy_weights(*ema, *net);
    work = [&] {
      auto t = torch::randint(0, T, {B}, torch::kInt64);
      auto eps = torch::randn_like(x0);
      auto loss = torch::mse_loss(net->forward(sch.q_sample(x0, t, eps), t, y), eps);
      opt.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(net->parameters(), 1.0);
      opt.step();
      ema_update(*ema, *net, 0.999);
    };
  } else if (workload == "guided") {
    // The library's own guided model (frozen base under NoGradGuard + G_psi, additive mix) and
    // group objective: what `invdiff debias` runs per step. torch_ref.py builds the same with
    // a `copy` G_psi.
    GuidanceConfig gc;
    gc.variant = parse_enum<GuidanceVariant>(variant);
    auto guided = std::make_shared<GuidedModel>(net, gc);
    std::vector<torch::Tensor> params;
    for (auto& [name, p] : guided->g->trainable_parameters()) {
      params.push_back(p);
      g_params += p.numel();
    }
    auto gopt = std::make_shared<torch::optim::AdamW>(params, torch::optim::AdamWOptions(1e-3).weight_decay(0));
    auto w = torch::rand({B, groups});
    w = w / w.sum(1, true);
    if (naive_base)
      for (auto& p : net->parameters()) p.requires_grad_(true);
    work = [&, guided, gopt, params, w] {
      auto t = torch::randint(0, T, {B}, torch::kInt64);
      auto eps = torch::randn_like(x0);
      auto xt = sch.q_sample(x0, t, eps);
      torch::Tensor pred;
      if (naive_base) {
        auto eps_base = net->forward(xt, t, y);  // under autograd: backward also runs through the base
        pred = eps_base + guided->g->forward(xt, t, y, eps_base);
      } else {
        pred = guided->forward(xt, t, y);
      }
      auto l = per_sample_mse(pred, eps);
      auto loss = group_objective(l, w, 1.0).total;
      gopt->zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(params, 1.0);
      gopt->step();
    };
  } else if (workload == "sample") {
    net->eval();
    SamplerOptions so;
    so.kind = SamplerKind::DDIM;
    so.steps = steps;
    EpsFn f = [&](const at::Tensor& x, const at::Tensor& t, const at::Tensor& yy) { return net->forward(x, t, yy); };
    // so and f are locals of this block: capture them by value (the loop runs after it ends).
    work = [&, so, f] {
      if (inference_mode) {
        c10::InferenceMode im;
        sample(f, sch, y, {B, 3, 16, 16}, so);
      } else {
        sample(f, sch, y, {B, 3, 16, 16}, so);
      }
    };
  } else {
    std::fprintf(stderr, "--workload must be train, guided or sample\n");
    return 2;
  }
  for (int i = 0; i < warmup; ++i) work();
  std::vector<double> times;
  {
    std::unique_ptr<torch::autograd::profiler::RecordProfile> prof;
    if (!profile.empty()) prof = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
    for (int i = 0; i < iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      work();
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::sort(times.begin(), times.end());
  std::printf("{\"impl\": \"cpp\", \"torch\": \"%s\", \"workload\": \"%s\", \"params\": %ld, \"g_params\": %ld, \"threads\": %d, "
              "\"batch\": %ld, \"iters\": %d, \"variant\": \"%s\", \"malloc\": \"%s\", \"naive_base\": %d, "
              "\"inference_mode\": %d, \"channels_last\": %d, \"sec_per_iter\": %.6f}\n",
              TORCH_VERSION, workload.c_str(), (long)net->num_parameters(), g_params, threads, (long)B, iters,
              workload == "guided" ? variant.c_str() : "", malloc_mode.c_str(), naive_base, inference_mode,
              channels_last, times[times.size() / 2]);
}
