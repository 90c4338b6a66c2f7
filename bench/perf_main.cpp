// C++ side of the C++-vs-PyTorch comparison: the same workloads as bench/torch_ref.py, same
// model, batch and threads; prints one JSON line with the median seconds per iteration.
//   build/invdiff_perf --workload train|guided|sample --threads 2 --iters 20 [--variant copy|small|lora]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
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
  std::string variant = "copy";
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
    else { std::fprintf(stderr, "unknown flag %s\n", k.c_str()); return 2; }
  }
  init_runtime(threads);
  torch::manual_seed(0);
  const int T = 1000;
  auto sch = NoiseSchedule::linear(T);
  UNet net(UNetConfig{});
  auto x0 = torch::rand({B, 3, 16, 16}) * 2 - 1;
  auto y = torch::randint(0, 4, {B}, torch::kInt64);
  std::function<void()> work;
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
    gc.variant = parse_guidance_variant(variant);
    auto guided = std::make_shared<GuidedModel>(net, gc);
    std::vector<torch::Tensor> params;
    for (auto& [name, p] : guided->g->trainable_parameters()) params.push_back(p);
    auto gopt = std::make_shared<torch::optim::AdamW>(params, torch::optim::AdamWOptions(1e-3).weight_decay(0));
    auto w = torch::rand({B, groups});
    w = w / w.sum(1, true);
    work = [&, guided, gopt, params, w] {
      auto t = torch::randint(0, T, {B}, torch::kInt64);
      auto eps = torch::randn_like(x0);
      auto pred = guided->forward(sch.q_sample(x0, t, eps), t, y);
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
    work = [&] { sample(f, sch, y, {B, 3, 16, 16}, so); };
  } else {
    std::fprintf(stderr, "--workload must be train, guided or sample\n");
    return 2;
  }
  for (int i = 0; i < warmup; ++i) work();
  std::vector<double> times;
  for (int i = 0; i < iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    work();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  std::printf("{\"impl\": \"cpp\", \"torch\": \"%s\", \"workload\": \"%s\", \"params\": %ld, \"threads\": %d, "
              "\"batch\": %ld, \"iters\": %d, \"variant\": \"%s\", \"sec_per_iter\": %.6f}\n",
              TORCH_VERSION, workload.c_str(), (long)net->num_parameters(), threads, (long)B, iters,
              workload == "guided" ? variant.c_str() : "",
              times[times.size() / 2]);
}
