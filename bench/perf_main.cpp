// C++ side of the C++-vs-PyTorch comparison: the same workloads as bench/torch_ref.py, same
// model, batch and threads; prints one JSON line with the median seconds per iteration.
//   build/invdiff_perf --workload train|sample --threads 2 --iters 20
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
#include "model/unet.h"
#include "train/ema.h"

using namespace invdiff;

int main(int argc, char** argv) {
  std::string workload;
  int threads = 2, iters = 20, warmup = 3, steps = 50;
  int64_t B = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--workload") workload = v;
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--iters") iters = std::stoi(v);
    else if (k == "--warmup") warmup = std::stoi(v);
    else if (k == "--batch") B = std::stoll(v);
    else if (k == "--steps") steps = std::stoi(v);
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
  } else if (workload == "sample") {
    net->eval();
    SamplerOptions so;
    so.kind = SamplerKind::DDIM;
    so.steps = steps;
    EpsFn f = [&](const at::Tensor& x, const at::Tensor& t, const at::Tensor& yy) { return net->forward(x, t, yy); };
    work = [&] { sample(f, sch, y, {B, 3, 16, 16}, so); };
  } else {
    std::fprintf(stderr, "--workload must be train or sample\n");
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
              "\"batch\": %ld, \"iters\": %d, \"sec_per_iter\": %.6f}\n",
              TORCH_VERSION, workload.c_str(), (long)net->num_parameters(), threads, (long)B, iters,
              times[times.size() / 2]);
}
