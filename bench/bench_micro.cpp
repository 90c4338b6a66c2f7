// Micro-benchmarks of the hot pieces at real sizes (cfmnist defaults). Run:
//   build/invdiff_bench [--benchmark_filter=UNet] [--threads N via INVDIFF_THREADS]
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>

#include "core/runtime.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "invdiff/grouper.h"
#include "model/unet.h"
#include "train/ema.h"

using namespace invdiff;

static void setup() {
  static bool done = false;
  if (done) return;
  const char* t = std::getenv("INVDIFF_THREADS");
  auto info = init_runtime(t ? std::atoi(t) : 0);
  benchmark::AddCustomContext("blas", info.blas);
  benchmark::AddCustomContext("threads", std::to_string(info.threads));
  benchmark::AddCustomContext("libtorch", TORCH_VERSION);
  done = true;
}

static void BM_Matmul(benchmark::State& st) {
  setup();
  int64_t n = st.range(0);
  auto a = torch::randn({n, n}), b = torch::randn({n, n});
  for (auto _ : st) benchmark::DoNotOptimize(torch::mm(a, b));
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Matmul)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);

static UNetConfig default_unet() { return UNetConfig{}; }

static void BM_UNetForward(benchmark::State& st) {
  setup();
  torch::NoGradGuard ng;
  UNet net(default_unet());
  int64_t B = st.range(0);
  auto x = torch::randn({B, 3, 16, 16});
  auto t = torch::randint(0, 1000, {B}, torch::kInt64);
  auto y = torch::randint(0, 4, {B}, torch::kInt64);
  for (auto _ : st) benchmark::DoNotOptimize(net->forward(x, t, y));
  st.counters["img/s"] = benchmark::Counter(B, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_UNetForward)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond);

static void BM_UNetTrainStep(benchmark::State& st) {
  setup();
  UNet net(default_unet()), ema(default_unet());
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0));
  auto sch = NoiseSchedule::linear(1000);
  int64_t B = st.range(0);
  auto x0 = torch::rand({B, 3, 16, 16}) * 2 - 1;
  auto y = torch::randint(0, 4, {B}, torch::kInt64);
  for (auto _ : st) {
    auto t = torch::randint(0, 1000, {B}, torch::kInt64);
    auto eps = torch::randn_like(x0);
    auto loss = torch::mse_loss(net->forward(sch.q_sample(x0, t, eps), t, y), eps);
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(net->parameters(), 1.0);
    opt.step();
    ema_update(*ema, *net, 0.999);
  }
  st.counters["steps/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_UNetTrainStep)->Arg(64)->Unit(benchmark::kMillisecond)->MinTime(5.0);

static void BM_EmaUpdate(benchmark::State& st) {
  setup();
  UNet a(default_unet()), b(default_unet());
  for (auto _ : st) ema_update(*a, *b, 0.999);
}
BENCHMARK(BM_EmaUpdate)->Unit(benchmark::kMillisecond);

static void BM_DdimStep(benchmark::State& st) {
  setup();
  torch::NoGradGuard ng;
  UNet net(default_unet());
  auto sch = NoiseSchedule::linear(1000);
  int64_t B = st.range(0);
  auto x = torch::randn({B, 3, 16, 16});
  auto y = torch::randint(0, 4, {B}, torch::kInt64);
  auto t = torch::full({B}, 500, torch::kInt64);
  for (auto _ : st) {
    auto eps = net->forward(x, t, y);
    benchmark::DoNotOptimize(ddim_step(sch, x, eps, 500, 480, 0.0, at::Tensor(), true));
  }
  st.counters["img/s"] = benchmark::Counter(B, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DdimStep)->Arg(256)->Unit(benchmark::kMillisecond);

// The paper's std grouper at cfmnist's size: 500 full-batch Adam steps on N = 24,000 scores and
// G = 8 groups (the max step's second half; the first is scoring, see README Performance).
static void BM_Grouper(benchmark::State& st) {
  setup();
  auto l = torch::rand({24000}, torch::kFloat64);
  GrouperOptions o;
  o.groups = st.range(0);
  o.steps = 500;
  for (auto _ : st) benchmark::DoNotOptimize(fit_groups(l, o).objective);
  st.counters["steps/s"] = benchmark::Counter(o.steps, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Grouper)->Arg(8)->Unit(benchmark::kMillisecond)->Iterations(3);

BENCHMARK_MAIN();
