#include "eval/classifier_train.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "core/fs.h"
#include "core/interrupt.h"
#include "core/progress.h"
#include "data/image_io.h"
#include "eval/metrics.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/training_run.h"

namespace invdiff {

// ---- training --------------------------------------------------------------------------------

namespace {

// Stratified seeded hold-out: round(fraction * n_c) of every class (at least one when the class
// has two or more images), so a small or imbalanced set still validates every class.
void split_train_val(const at::Tensor& labels, int64_t K, double fraction, uint64_t seed, std::vector<int64_t>& train,
                     std::vector<int64_t>& val) {
  auto lab = labels.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t* y = lab.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> by_class(K);
  for (int64_t i = 0; i < lab.numel(); ++i) by_class[y[i]].push_back(i);
  std::mt19937_64 g(seed * 0x9E3779B97F4A7C15ull + 12345);
  for (auto& idx : by_class) {
    std::shuffle(idx.begin(), idx.end(), g);
    int64_t n = static_cast<int64_t>(idx.size());
    int64_t nv = fraction > 0 ? static_cast<int64_t>(std::llround(fraction * n)) : 0;
    if (fraction > 0 && n >= 2) nv = std::max<int64_t>(nv, 1);
    nv = std::min(nv, std::max<int64_t>(0, n - 1));  // keep at least one image to train on
    val.insert(val.end(), idx.begin(), idx.begin() + nv);
    train.insert(train.end(), idx.begin() + nv, idx.end());
  }
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
}

// Random 1-pixel shifts (background-filled) and horizontal flips: cheap invariances that a
// 3.6 k-image training set needs to generalise.
at::Tensor augment(const at::Tensor& x, at::Generator& gen) {
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  auto padded = torch::constant_pad_nd(x, {1, 1, 1, 1}, -1.0);
  auto off = torch::randint(0, 3, {B, 2}, gen, torch::kInt64);
  auto flip = torch::rand({B}, gen, torch::kFloat32) < 0.5;
  auto out = torch::empty_like(x);
  auto o = off.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) out[b].copy_(padded[b].narrow(1, o[b][0], H).narrow(2, o[b][1], W));
  return torch::where(flip.view({B, 1, 1, 1}), out.flip({3}), out);
}

}  // namespace

Classifier train_classifier(const ImageDataset& data, const ClassifierTrainConfig& cfg, const std::string& out_dir,
                            const c10::Device& device, bool progress, ClassifierTrainResult* result) {
  const int64_t K = static_cast<int64_t>(data.class_names.size());
  if (K < 2)
    throw std::invalid_argument(data.root + ": column '" + data.target_column + "' has " + std::to_string(K) +
                                " class(es); a classifier needs at least 2");
  if (data.images.size(2) != data.images.size(3)) throw std::invalid_argument(data.root + ": images must be square");
  if (cfg.batch_size <= 0) throw std::invalid_argument("classifier: batch size must be positive");
  if (cfg.val_fraction < 0 || cfg.val_fraction >= 1)
    throw std::invalid_argument("classifier: validation fraction must be in [0, 1), got " + std::to_string(cfg.val_fraction));

  std::vector<int64_t> tr, va;
  split_train_val(data.labels, K, cfg.val_fraction, cfg.seed, tr, va);
  auto tr_idx = torch::tensor(tr, torch::kInt64);
  auto x_tr = data.images.index_select(0, tr_idx), y_tr = data.labels.index_select(0, tr_idx);
  const int64_t bs = std::min<int64_t>(cfg.batch_size, static_cast<int64_t>(tr.size()));
  BatchSampler sampler(static_cast<int64_t>(tr.size()), bs, cfg.seed);
  const int64_t steps = cfg.steps > 0 ? cfg.steps : std::max<int64_t>(1, cfg.epochs * sampler.steps_per_epoch());

  ClassifierConfig net_cfg = cfg.net;
  net_cfg.in_channels = static_cast<int>(data.images.size(1));
  net_cfg.image_size = static_cast<int>(data.images.size(2));
  net_cfg.num_classes = static_cast<int>(K);
  torch::manual_seed(cfg.seed);  // weight init
  Classifier c;
  c.net = ClassifierNet(net_cfg);
  c.net->to(device);
  c.device = device;
  c.class_names = data.class_names;
  c.column = data.target_column;
  torch::optim::AdamW opt(c.net->parameters(), torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));

  auto t0 = std::chrono::steady_clock::now();
  ProgressBar bar("classifier", steps, 0, progress);
  double avg_loss = 0, avg_acc = 0;
  c.net->train();
  for (int64_t step = 0; step < steps; ++step) {
    if (interrupted()) throw std::runtime_error("classifier training interrupted at step " + std::to_string(step) + "; nothing saved");
    auto gen = step_generator(cfg.seed, step, /*salt=*/17);
    auto idx = sampler.batch_tensor(step);
    auto x = to_unit_range(x_tr.index_select(0, idx));
    if (cfg.augment) x = augment(x, gen);
    auto y = y_tr.index_select(0, idx).to(device);
    x = x.to(device);
    set_adamw_lr(opt, lr_at(step, cfg.lr, cfg.warmup, steps, 0.01));
    auto logits = c.net->forward(x);
    auto loss = torch::nn::functional::cross_entropy(logits, y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    double l = loss.item<double>();
    if (!std::isfinite(l)) throw std::runtime_error("classifier: loss became " + std::to_string(l) + " at step " + std::to_string(step) + " (try a lower --lr)");
    double a = (logits.argmax(1) == y).to(torch::kFloat32).mean().item<double>();
    avg_loss = step == 0 ? l : 0.95 * avg_loss + 0.05 * l;
    avg_acc = step == 0 ? a : 0.95 * avg_acc + 0.05 * a;
    char post[64];
    std::snprintf(post, sizeof post, "loss %.3f acc %.3f", avg_loss, avg_acc);
    bar.update(step + 1, post);
  }
  bar.finish();
  c.net->eval();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json val = nullptr;
  ClassifierTrainResult r;
  if (!va.empty()) {
    auto va_idx = torch::tensor(va, torch::kInt64);
    auto pred = c.predict(data.images.index_select(0, va_idx)).argmax(1);
    auto rep = classification_report(pred, data.labels.index_select(0, va_idx), K);
    r.val_accuracy = rep.accuracy;
    r.val_macro_f1 = rep.macro_f1;
    nlohmann::json per_class;
    for (int64_t k = 0; k < K; ++k) per_class[data.class_names[k]] = {{"f1", rep.f1[k]}, {"support", rep.support[k]}};
    val = {{"accuracy", rep.accuracy}, {"macro_f1", rep.macro_f1}, {"size", va.size()}, {"per_class", per_class}};
  }
  r.train_size = static_cast<int64_t>(tr.size());
  r.val_size = static_cast<int64_t>(va.size());
  r.steps = steps;
  r.seconds = seconds;

  int64_t n_params = 0;
  for (const auto& p : c.net->parameters()) n_params += p.numel();
  auto dataset_record = dataset_fingerprint(data);  // what eval's default classifier is checked against
  dataset_record["column"] = data.target_column;
  dataset_record["train_size"] = tr.size();
  dataset_record["val_size"] = va.size();
  c.meta = {{"kind", "classifier"},
            {"train", cfg},
            {"steps", steps},
            {"seconds", seconds},
            {"dataset", dataset_record},
            {"val", val},
            {"parameters", n_params}};
  ensure_dir(out_dir);
  c.path = join_path(out_dir, "checkpoint.pt");
  save_classifier(c.path, c);
  c.meta = read_checkpoint_meta(c.path);
  nlohmann::json report = {{"column", data.target_column}, {"class_names", data.class_names}, {"split", data.split},
                           {"val", val}, {"train_size", tr.size()}, {"steps", steps}, {"seconds", seconds}};
  atomic_write_text(join_path(out_dir, "metrics.json"), report.dump(2) + "\n");
  if (result) *result = r;
  return c;
}

Classifier train_classifier(const std::string& data_dir, const ClassifierTrainConfig& cfg, const std::string& out_dir,
                            const c10::Device& device, bool progress, ClassifierTrainResult* result) {
  DatasetOptions dopt;
  dopt.split = cfg.split;
  dopt.target_column = cfg.column;
  return train_classifier(load_dataset(data_dir, dopt), cfg, out_dir, device, progress, result);
}

}  // namespace invdiff
