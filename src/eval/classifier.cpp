#include "eval/classifier.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "core/fs.h"
#include "core/interrupt.h"
#include "core/progress.h"
#include "eval/metrics.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/training_run.h"

namespace invdiff {

// ---- configuration ---------------------------------------------------------------------------

void ClassifierConfig::validate() const {
  auto bad = [](const std::string& field, int v) {
    throw std::invalid_argument("classifier config: invalid " + field + " = " + std::to_string(v));
  };
  if (in_channels < 1) bad("in_channels", in_channels);
  if (image_size < 1) bad("image_size", image_size);
  if (num_classes < 2) bad("num_classes (need at least 2 classes)", num_classes);
  if (width < 1 || width % norm_groups != 0) bad("width (must be a multiple of norm_groups)", width);
  if (stages < 1 || stages > 6) bad("stages", stages);
  if (blocks < 1) bad("blocks", blocks);
  if (feature_dim < 1) bad("feature_dim", feature_dim);
  if (norm_groups < 1) bad("norm_groups", norm_groups);
}

// ---- network ---------------------------------------------------------------------------------

namespace {

// Pre-activation residual block (GroupNorm, so train and eval behave the same and a checkpoint
// has no running statistics to get wrong); stride 2 halves the resolution.
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in, int64_t out, int64_t stride, int64_t groups) {
    n1 = register_module("n1", torch::nn::GroupNorm(groups, in));
    c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1)));
    n2 = register_module("n2", torch::nn::GroupNorm(groups, out));
    c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)));
    if (in != out || stride != 1)
      skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = c1->forward(torch::relu(n1->forward(x)));
    h = c2->forward(torch::relu(n2->forward(h)));
    return h + (skip.is_empty() ? x : skip->forward(x));
  }
  torch::nn::GroupNorm n1{nullptr}, n2{nullptr};
  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, skip{nullptr};
};
TORCH_MODULE(ResBlock);

}  // namespace

ClassifierNetImpl::ClassifierNetImpl(const ClassifierConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  stem_ = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(cfg.in_channels, cfg.width, 3).padding(1)));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  int64_t ch = cfg.width;
  for (int s = 0; s < cfg.stages; ++s) {
    int64_t out = static_cast<int64_t>(cfg.width) << s;
    blocks_->push_back(ResBlock(ch, out, s == 0 ? 1 : 2, cfg.norm_groups));
    for (int b = 1; b < cfg.blocks; ++b) blocks_->push_back(ResBlock(out, out, 1, cfg.norm_groups));
    ch = out;
  }
  norm_ = register_module("norm", torch::nn::GroupNorm(cfg.norm_groups, ch));
  feat_ = register_module("feat", torch::nn::Linear(ch, cfg.feature_dim));
  head_ = register_module("head", torch::nn::Linear(cfg.feature_dim, cfg.num_classes));
}

torch::Tensor ClassifierNetImpl::features(const torch::Tensor& x) {
  auto h = stem_->forward(x);
  for (auto& b : *blocks_) h = b->as<ResBlockImpl>()->forward(h);
  h = torch::relu(norm_->forward(h)).mean({2, 3});  // global average pool
  return torch::relu(feat_->forward(h));
}

torch::Tensor ClassifierNetImpl::forward(const torch::Tensor& x) { return head_->forward(features(x)); }

// ---- inference -------------------------------------------------------------------------------

void Classifier::check_images(const at::Tensor& images, const std::string& what) const {
  const auto& c = net->config();
  if (images.dim() != 4 || images.size(1) != c.in_channels || images.size(2) != c.image_size ||
      images.size(3) != c.image_size) {
    std::string got = images.dim() == 4 ? std::to_string(images.size(1)) + "x" + std::to_string(images.size(2)) + "x" +
                                              std::to_string(images.size(3))
                                        : std::to_string(images.dim()) + "-d tensor";
    throw std::runtime_error((path.empty() ? std::string("classifier") : path) + ": expects " +
                             std::to_string(c.in_channels) + "x" + std::to_string(c.image_size) + "x" +
                             std::to_string(c.image_size) + " images, " + what + " are " + got);
  }
}

namespace {
at::Tensor batched(const Classifier& c, const at::Tensor& images, int64_t bs, bool progress, bool feats) {
  c.check_images(images, "the images given");
  torch::NoGradGuard ng;
  ClassifierNet net = c.net;  // a non-const handle to the shared module
  net->eval();
  const int64_t n = images.size(0);
  std::vector<at::Tensor> out;
  ProgressBar bar(feats ? "features" : "classify", n, 0, progress);
  for (int64_t i = 0; i < n; i += bs) {
    auto x = images.narrow(0, i, std::min(bs, n - i)).to(c.device, torch::kFloat32);
    out.push_back((feats ? net->features(x) : net->forward(x)).to(torch::kCPU));
    bar.update(i + x.size(0));
  }
  bar.finish();
  if (out.empty()) return torch::empty({0, feats ? c.net->config().feature_dim : c.net->config().num_classes});
  return torch::cat(out);
}
}  // namespace

at::Tensor Classifier::predict(const at::Tensor& images, int64_t bs, bool progress) const {
  return batched(*this, images, bs, progress, false);
}

at::Tensor Classifier::features(const at::Tensor& images, int64_t bs, bool progress) const {
  return batched(*this, images, bs, progress, true);
}

// ---- checkpoint ------------------------------------------------------------------------------

void save_classifier(const std::string& path, const Classifier& c) {
  nlohmann::json meta = c.meta;
  meta["kind"] = "classifier";
  meta["classifier"] = c.net->config();
  meta["class_names"] = c.class_names;
  meta["column"] = c.column;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) ensure_dir(parent.string());
  ClassifierNet net = c.net;
  save_checkpoint(path, *net, nullptr, nullptr, meta);
}

bool is_classifier_checkpoint(const std::string& dir_or_file) {
  try {
    return read_checkpoint_meta(checkpoint_path(dir_or_file)).value("kind", std::string()) == "classifier";
  } catch (const std::exception&) {
    return false;
  }
}

Classifier load_classifier(const std::string& dir_or_file, const c10::Device& device) {
  std::string path = checkpoint_path(dir_or_file);
  Classifier c;
  c.meta = read_checkpoint_meta(path);
  if (c.meta.value("kind", std::string()) != "classifier" || !c.meta.contains("classifier"))
    throw std::runtime_error(path + ": not a classifier checkpoint (kind '" + c.meta.value("kind", std::string("?")) +
                             "'); train one with `invdiff classifier train`");
  ClassifierConfig cfg = c.meta["classifier"].get<ClassifierConfig>();
  c.class_names = c.meta.value("class_names", std::vector<std::string>{});
  if (static_cast<int>(c.class_names.size()) != cfg.num_classes)
    throw std::runtime_error(path + ": meta lists " + std::to_string(c.class_names.size()) + " class names for " +
                             std::to_string(cfg.num_classes) + " outputs");
  c.column = c.meta.value("column", std::string());
  c.path = path;
  c.net = ClassifierNet(cfg);
  load_module(path, "model", *c.net);
  c.net->to(device);
  c.net->eval();
  c.device = device;
  return c;
}

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
    auto x = x_tr.index_select(0, idx);
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
  c.meta = {{"kind", "classifier"},
            {"train", cfg},
            {"steps", steps},
            {"seconds", seconds},
            {"dataset", {{"root", data.root}, {"split", data.split}, {"column", data.target_column},
                         {"train_size", tr.size()}, {"val_size", va.size()}}},
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
