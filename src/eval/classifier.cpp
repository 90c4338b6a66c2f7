#include "eval/classifier.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "core/fs.h"
#include "core/progress.h"
#include "data/image_io.h"
#include "train/checkpoint.h"

namespace invdiff {

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
    auto x = to_unit_range(images.narrow(0, i, std::min(bs, n - i))).to(c.device, torch::kFloat32);
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

}  // namespace invdiff
