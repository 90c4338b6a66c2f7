// Parity with diffusers 0.27.2's DDPMScheduler / DDIMScheduler (tests/fixtures/diffusers/scheduler_ddpm).
#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "diffusion/diffusers_scheduler.h"
#include "fixtures.h"
#include "parity.h"

using namespace invdiff;

namespace {
const std::map<std::string, at::Tensor>& io() {
  static auto t = read_safetensors(diffusers_fixture("scheduler_ddpm/io.safetensors")).tensors;
  return t;
}
// Within 1e-6, relative where |expected| > 1.
void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  auto err = ((got.to(torch::kFloat64) - want.to(torch::kFloat64)).abs() / want.to(torch::kFloat64).abs().clamp_min(1.0));
  EXPECT_LE(err.max().item<double>(), 1e-6) << what;
  record_error(what, err.max().item<double>());  // in --gtest_output=xml
}
DiffusersScheduler scheduler(const std::string& rel) {
  return DiffusersScheduler(read_diffusers_scheduler_config(diffusers_fixture("scheduler_ddpm/" + rel)));
}
}  // namespace

TEST(DiffusersScheduler, DdpmTablesAndStepsMatchDiffusers) {
  for (const auto& [name, rel] : std::vector<std::pair<std::string, std::string>>{
           {"linear", "scheduler_config.json"}, {"cosine", "cosine_fixed_small/scheduler_config.json"}}) {
    auto s = scheduler(rel);
    expect_close(s.betas(), io().at(name + ".betas"), name + ".betas");
    expect_close(s.alphas_cumprod(), io().at(name + ".alphas_cumprod"), name + ".alphas_cumprod");
    EXPECT_TRUE(torch::equal(torch::tensor(s.timesteps(1000)), io().at(name + ".timesteps")));
    for (int t : {999, 500, 1, 0}) {
      auto st = s.ddpm_step(io().at("model_output"), t, io().at("sample"), io().at("noise"));
      const std::string k = name + ".t" + std::to_string(t);
      expect_close(st.pred_original_sample, io().at(k + ".pred_original_sample"), k + ".pred_original_sample");
      expect_close(st.prev_sample, io().at(k + ".prev_sample"), k + ".prev_sample");
    }
  }
}

TEST(DiffusersScheduler, AddNoiseIsTheForwardProcessOfTheImportedSchedule) {
  auto sch = scheduler("scheduler_config.json").schedule();
  EXPECT_EQ(sch.T(), 1000);
  auto got = sch.q_sample(io().at("sample"), io().at("linear.add_noise.timesteps"), io().at("linear.add_noise.noise"));
  expect_close(got, io().at("linear.add_noise.expected"), "add_noise");
}

TEST(DiffusersScheduler, DdimTablesAndStepsMatchDiffusers) {
  for (const auto& name : {std::string("ddim"), std::string("ddim_sd")}) {
    auto s = scheduler(name + "/scheduler_config.json");
    EXPECT_TRUE(s.config().ddim());
    expect_close(s.alphas_cumprod(), io().at(name + ".alphas_cumprod"), name + ".alphas_cumprod");
    EXPECT_FLOAT_EQ(s.final_alpha_cumprod(), io().at(name + ".final_alpha_cumprod")[0].item<float>());
    auto ts = s.timesteps(50);
    EXPECT_TRUE(torch::equal(torch::tensor(ts), io().at(name + ".timesteps")));
    auto idx = io().at(name + ".step_indices");
    for (int64_t j = 0; j < idx.numel(); ++j) {
      int64_t i = idx[j].item<int64_t>();
      for (int eta : {0, 1}) {
        auto st = s.ddim_step(io().at("model_output"), ts[i], io().at("sample"), 50, eta, io().at("noise"));
        const std::string k = name + ".i" + std::to_string(i) + ".eta" + std::to_string(eta);
        expect_close(st.pred_original_sample, io().at(k + ".pred_original_sample"), k + ".pred_original_sample");
        expect_close(st.prev_sample, io().at(k + ".prev_sample"), k + ".prev_sample");
      }
    }
  }
}

TEST(DiffusersScheduler, ConfigDefaultsUnknownKeysAndRefusals) {
  auto c = nlohmann::json{{"variance_type", "fixed_large"}, {"_class_name", "DDIMScheduler"}, {"unknown", 3}}
               .get<DiffusersSchedulerConfig>();
  EXPECT_EQ(c.num_train_timesteps, 1000);
  EXPECT_TRUE(c.set_alpha_to_one);
  EXPECT_EQ(error_of([&] { c.validate(); }), "<no error>");
  auto refused = [](const nlohmann::json& j) { return error_of([&] { j.get<DiffusersSchedulerConfig>().validate(); }); };
  EXPECT_EQ(refused({{"prediction_type", "v_prediction"}}).rfind("prediction_type \"v_prediction\" is not supported", 0), 0u);
  EXPECT_EQ(refused({{"prediction_type", "sample"}}).rfind("prediction_type \"sample\"", 0), 0u);
  EXPECT_EQ(refused({{"beta_schedule", "sigmoid"}}).rfind("beta_schedule \"sigmoid\"", 0), 0u);
  EXPECT_EQ(refused({{"variance_type", "learned_range"}}).rfind("variance_type \"learned_range\"", 0), 0u);
  EXPECT_EQ(refused({{"_class_name", "EulerDiscreteScheduler"}}).rfind("_class_name \"EulerDiscreteScheduler\"", 0), 0u);
  EXPECT_EQ(refused({{"thresholding", true}}).rfind("thresholding true", 0), 0u);
  // trained_betas win over beta_schedule
  nlohmann::json tb{{"num_train_timesteps", 3}, {"trained_betas", {0.1, 0.2, 0.3}}, {"beta_schedule", "whatever"}};
  DiffusersScheduler s(tb.get<DiffusersSchedulerConfig>());
  EXPECT_NEAR(s.alphas_cumprod()[2].item<double>(), 0.9 * 0.8 * 0.7, 1e-6);
  EXPECT_EQ(s.schedule().kind(), "diffusers:trained_betas");
}
