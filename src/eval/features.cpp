#include "eval/features.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <memory>
#include <stdexcept>

#include "core/fs.h"
#include "core/progress.h"
#include "data/image_io.h"
#include "eval/classifier.h"

namespace invdiff {

FeatureExtractor FeatureExtractor::from_classifier(const Classifier& c) {
  FeatureExtractor f;
  Classifier copy = c;  // holds the shared module handle, so the weights stay alive
  f.fn_ = [copy](const at::Tensor& x) {
    copy.check_images(x, "the images to embed");
    ClassifierNet net = copy.net;
    return net->features(x);
  };
  f.kind_ = "classifier-penultimate";
  f.path_ = c.path;
  f.device_ = c.device;
  f.dim_ = c.net->config().feature_dim;
  return f;
}

FeatureExtractor FeatureExtractor::from_torchscript(const std::string& path, const c10::Device& device) {
  if (!file_exists(path)) throw std::runtime_error("feature extractor not found: " + path);
  auto mod = std::make_shared<torch::jit::script::Module>();
  try {
    *mod = torch::jit::load(path, device);
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": neither an invdiff classifier checkpoint nor a loadable TorchScript module (" +
                             e.msg().substr(0, e.msg().find('\n')) + ")");
  }
  mod->eval();
  FeatureExtractor f;
  f.fn_ = [mod, path](const at::Tensor& x) {
    c10::IValue out;
    try {
      out = mod->forward({x});
    } catch (const std::exception& e) {
      std::string m = e.what();
      throw std::runtime_error(path + ": TorchScript feature extractor failed on a [" + std::to_string(x.size(0)) + ", " +
                               std::to_string(x.size(1)) + ", " + std::to_string(x.size(2)) + ", " +
                               std::to_string(x.size(3)) + "] batch (" + m.substr(0, m.find('\n')) + ")");
    }
    if (out.isTuple()) out = out.toTuple()->elements().at(0);
    if (out.isTensorList()) out = out.toTensorList().get(0);
    if (!out.isTensor()) throw std::runtime_error(path + ": TorchScript feature extractor did not return a tensor");
    return out.toTensor().flatten(1);
  };
  f.kind_ = "torchscript";
  f.path_ = path;
  f.device_ = device;
  return f;
}

FeatureExtractor FeatureExtractor::load(const std::string& path, const c10::Device& device) {
  if (is_classifier_checkpoint(path)) return from_classifier(load_classifier(path, device));
  return from_torchscript(path, device);
}

at::Tensor FeatureExtractor::extract(const at::Tensor& images, int64_t bs, bool progress, const std::string& label) const {
  torch::NoGradGuard ng;
  const int64_t n = images.size(0);
  std::vector<at::Tensor> out;
  ProgressBar bar(label, n, 0, progress);
  for (int64_t i = 0; i < n; i += bs) {
    auto x = to_unit_range(images.narrow(0, i, std::min(bs, n - i))).to(device_, torch::kFloat32);
    out.push_back(fn_(x).to(torch::kCPU, torch::kFloat32));
    bar.update(i + x.size(0));
  }
  bar.finish();
  if (out.empty()) throw std::invalid_argument("features: no images to embed");
  auto f = torch::cat(out);
  dim_ = f.size(1);
  return f;
}

nlohmann::json FeatureExtractor::describe() const {
  nlohmann::json j = {{"kind", kind_}, {"path", path_}};
  if (dim_ > 0) j["dim"] = dim_;
  return j;
}

}  // namespace invdiff
