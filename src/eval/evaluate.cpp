#include "eval/evaluate.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>

#include "core/csv.h"
#include "core/fs.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "eval/bias.h"
#include "eval/classifier.h"
#include "eval/classifier_train.h"
#include "eval/colour.h"
#include "eval/features.h"
#include "eval/image_folder.h"
#include "eval/report.h"
#include "sampling/any_model.h"

namespace invdiff {

namespace {

std::string join_names(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string shape_str(const at::Tensor& images) {
  return std::to_string(images.size(1)) + "x" + std::to_string(images.size(2)) + "x" + std::to_string(images.size(3));
}

// Index of `name` among `names`: exact, else case-insensitive; -1 if absent.
int64_t find_name(const std::vector<std::string>& names, const std::string& name) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<int64_t>(i);
  for (size_t i = 0; i < names.size(); ++i)
    if (lower(names[i]) == lower(name)) return static_cast<int64_t>(i);
  return -1;
}

// Classifier output index -> dataset class index, by name. The classifier must know exactly the
// dataset's classes: a different count (a colour classifier passed as the garment judge, a
// model trained on another class subset) would silently score against the wrong labels.
std::vector<int64_t> classifier_to_dataset(const Classifier& c, const std::vector<std::string>& names,
                                           const std::string& data_dir, const std::string& column) {
  if (c.class_names.size() != names.size())
    throw std::runtime_error(c.path + ": classifier has " + std::to_string(c.class_names.size()) + " classes (" +
                             join_names(c.class_names) + ") but " + data_dir + " has " + std::to_string(names.size()) +
                             " in column '" + column + "' (" + join_names(names) + ")");
  std::vector<int64_t> map;
  for (const auto& n : c.class_names) {
    int64_t k = find_name(names, n);
    if (k < 0)
      throw std::runtime_error(c.path + ": classifier class '" + n + "' is not a class of " + data_dir + " (" +
                               join_names(names) + ")");
    map.push_back(k);
  }
  return map;
}

// The default classifier (OUT/../classifier) is reused only for the dataset it was trained on:
// another dataset with the same class names would otherwise be judged by it silently.
Classifier resolve_classifier(const EvalOptions& opt, const ImageDataset& ref, const std::string& out_dir,
                              const c10::Device& device) {
  if (!opt.classifier.empty()) return load_classifier(opt.classifier, device);
  std::string dir = default_classifier_dir(out_dir);
  if (file_exists(checkpoint_path(dir))) {
    std::fprintf(stderr, "eval: using the classifier in %s (no --classifier given)\n", dir.c_str());
    auto c = load_classifier(dir, device);
    if (c.meta.value("dataset", nlohmann::json()).value("split", std::string()) == ref.split)
      check_dataset_fingerprint(c.meta["dataset"], ref,
                                "eval: the default classifier in " + dir + " (pass --classifier to use another)");
    return c;
  }
  std::fprintf(stderr,
               "eval: no --classifier given and none in %s: training one on %s (split ref, about 1-2 min on 2 cores; "
               "reused by later evaluations)\n",
               dir.c_str(), opt.data_dir.c_str());
  ClassifierTrainConfig cfg;
  cfg.split = opt.ref_split;
  cfg.column = ref.target_column;
  return train_classifier(ref, cfg, dir, device, opt.progress);
}

// The evaluated set: images, their prompts as dataset class indices, and what produced them.
struct EvalSet {
  at::Tensor images;
  std::vector<int64_t> prompt;
  std::vector<std::string> image_id;    // per image: its file, "<prompt>#<k>" (a model's), "ref:<row>"
  std::vector<std::string> image_seed;  // per image: its noise seed (a model's), else ""
  at::Tensor reference;  // the reference images the set is compared with
  nlohmann::json generation;
  std::string source;
};

void check_shape(const at::Tensor& images, const at::Tensor& ref, const std::string& what, const EvalOptions& opt) {
  if (images.sizes().slice(1).vec() != ref.sizes().slice(1).vec())
    throw std::runtime_error(what + " are " + shape_str(images) + " (CxHxW) but the reference set " + opt.data_dir +
                             " (split " + opt.ref_split + ") is " + shape_str(ref));
}

// Loads and checks the model (cheap) without sampling, so that a bad classifier or dataset is
// reported before minutes of generation rather than after.
struct PendingModel {
  AnyModel m;  // a base or a guided model
  std::vector<int64_t> labels;  // model condition indices
  EvalSet set;                  // everything but the images
};

PendingModel prepare_model(const EvalOptions& opt, const ImageDataset& ref, const c10::Device& device) {
  PendingModel pm;
  LoadModelOptions lo;
  lo.use_ema = opt.use_ema;
  lo.guidance_ratio = opt.guidance_ratio;
  pm.m = load_any_model(opt.model, device, lo);
  at::Tensor probe = torch::empty({1, pm.m.channels, pm.m.image_size, pm.m.image_size});
  check_shape(probe, ref.images, "images of model " + opt.model, opt);
  if (opt.n_per_prompt < 1) throw std::invalid_argument("eval: -n must be at least 1");
  (void)sampling_timesteps(pm.m.schedule().T(), opt.gen.sampler.steps);  // steps in [1, T], before minutes of work
  const auto& model_classes = pm.m.class_names();
  for (size_t c = 0; c < model_classes.size(); ++c) {
    int64_t k = find_name(ref.class_names, model_classes[c]);
    if (k < 0)
      throw std::runtime_error(opt.model + ": model class '" + model_classes[c] + "' is not a class of " +
                               opt.data_dir + " (" + join_names(ref.class_names) + ")");
    for (int64_t i = 0; i < opt.n_per_prompt; ++i) {
      pm.labels.push_back(static_cast<int64_t>(c));
      pm.set.prompt.push_back(k);
    }
  }
  pm.set.reference = ref.images;
  pm.set.generation = generation_params(opt.model, opt.gen);
  pm.set.generation["ema"] = opt.use_ema;
  pm.set.generation["model_info"] = pm.m.describe();  // guided: variant, mix, the r used
  pm.set.generation["n_per_prompt"] = opt.n_per_prompt;
  pm.set.source = "model";
  return pm;
}

void sample_model(PendingModel& pm, const EvalOptions& opt, const c10::Device& device) {
  for (const auto& k : image_keys(pm.labels, pm.m.class_names(), opt.gen.sampler.seed)) {
    pm.set.image_id.push_back(k.prompt + "#" + std::to_string(k.index));
    pm.set.image_seed.push_back(std::to_string(k.seed));
  }
  pm.set.images = generate(pm.m.eps, pm.m.schedule(), pm.m.null_class, pm.labels,
                           {pm.m.channels, pm.m.image_size, pm.m.image_size}, opt.gen, device, opt.progress,
                           pm.m.class_names());
}

EvalSet from_folder(const EvalOptions& opt, const ImageDataset& ref) {
  auto pi = load_prompted_images(opt.images_dir, opt.images_csv, static_cast<int>(ref.images.size(1)));
  check_shape(pi.images, ref.images, "images in " + opt.images_dir, opt);
  EvalSet s;
  for (size_t i = 0; i < pi.prompts.size(); ++i) {
    int64_t k = find_name(ref.class_names, pi.prompts[i]);
    if (k < 0)
      throw std::runtime_error(join_path(opt.images_dir, pi.files[i]) + ": prompt '" + pi.prompts[i] +
                               "' is not a class of " + opt.data_dir + " (" + join_names(ref.class_names) + ")");
    s.prompt.push_back(k);
  }
  s.image_id = pi.files;
  s.image_seed.assign(pi.files.size(), "");
  s.images = pi.images;
  s.reference = ref.images;
  s.generation = {{"images", opt.images_dir}, {"prompts_from", opt.images_csv.empty() ? "png text chunks" : opt.images_csv}};
  s.source = "images";
  return s;
}

// Two disjoint seeded halves of the reference split: the first plays "generated", the second
// the reference. Real balanced data scored this way is the floor every metric should reach.
EvalSet from_reference(const EvalOptions& opt, const ImageDataset& ref) {
  const int64_t n = ref.size();
  if (n < 8) throw std::runtime_error(opt.data_dir + ": split " + opt.ref_split + " has " + std::to_string(n) +
                                      " images, too few to halve for --reference");
  auto gen = at::detail::createCPUGenerator(opt.seed + 4242);
  auto perm = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
  auto a = perm.narrow(0, 0, n / 2), b = perm.narrow(0, n / 2, n - n / 2);
  EvalSet s;
  s.images = to_unit_range(ref.images.index_select(0, a));  // scored as generated images are: floats
  auto la = ref.labels.index_select(0, a).contiguous();
  s.prompt.assign(la.data_ptr<int64_t>(), la.data_ptr<int64_t>() + la.numel());
  for (int64_t i = 0; i < a.size(0); ++i) s.image_id.push_back("ref:" + std::to_string(a[i].item<int64_t>()));
  s.image_seed.assign(s.image_id.size(), "");
  s.reference = ref.images.index_select(0, b);
  s.generation = {{"reference_halves", true}, {"seed", opt.seed}};
  s.source = "reference";
  return s;
}

at::Tensor to_tensor(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }

// Up to 16 images per prompt, one row per prompt (rows padded with blanks).
void write_sample_grid(const std::string& path, const at::Tensor& images, const std::vector<int64_t>& prompt,
                       const std::vector<int64_t>& prompts_present, const nlohmann::json& params) {
  const int64_t per_row = 16;
  std::vector<at::Tensor> tiles;
  for (int64_t p : prompts_present) {
    int64_t shown = 0;
    for (size_t i = 0; i < prompt.size() && shown < per_row; ++i)
      if (prompt[i] == p) {
        tiles.push_back(images[static_cast<int64_t>(i)]);
        ++shown;
      }
    for (; shown < per_row; ++shown) tiles.push_back(torch::full_like(images[0], -1.0));
  }
  write_png(path, make_grid(torch::stack(tiles), static_cast<int>(per_row)), {{"parameters", params.dump()}});
}

// A classifier's validation accuracy from its checkpoint meta, or null when it recorded none.
nlohmann::json val_accuracy(const Classifier& c) {
  if (c.meta.contains("val") && c.meta["val"].is_object()) return c.meta["val"].value("accuracy", 0.0);
  return nullptr;
}

}  // namespace

std::string default_classifier_dir(const std::string& out_dir) {
  auto p = std::filesystem::path(out_dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "runs/x/eval/" -> "runs/x/eval"
  auto parent = p.parent_path();
  return (parent.empty() ? std::filesystem::path("classifier") : parent / "classifier").string();
}

nlohmann::json evaluate(const EvalOptions& opt, const std::string& out_dir, const c10::Device& device) {
  auto t0 = std::chrono::steady_clock::now();
  int sources = !opt.model.empty() + !opt.images_dir.empty() + opt.reference;
  if (sources != 1) throw std::invalid_argument("eval: give exactly one of -m MODEL, --images DIR or --reference");

  DatasetOptions dopt;
  dopt.split = opt.ref_split;
  dopt.target_column = opt.target_column;
  ImageDataset ref = load_dataset(opt.data_dir, dopt);
  const auto& names = ref.class_names;
  const int64_t P = static_cast<int64_t>(names.size());

  // Every cheap check (folder, prompts, sizes, model classes) before the classifier, which may
  // have to be trained, and before sampling, which takes minutes.
  EvalSet set;
  PendingModel pending;
  if (opt.reference) set = from_reference(opt, ref);
  else if (!opt.images_dir.empty()) set = from_folder(opt, ref);
  else pending = prepare_model(opt, ref, device);

  Classifier judge = resolve_classifier(opt, ref, out_dir, device);
  auto judge_map = classifier_to_dataset(judge, names, opt.data_dir, ref.target_column);
  judge.check_images(ref.images, "the reference images of " + opt.data_dir);
  std::vector<Classifier> attr_clfs;
  for (const auto& path : opt.attr_classifiers) attr_clfs.push_back(load_classifier(path, device));
  FeatureExtractor fx = opt.features.empty() ? FeatureExtractor::from_classifier(judge)
                                             : FeatureExtractor::load(opt.features, device);
  if (!opt.model.empty()) {
    sample_model(pending, opt, device);
    set = std::move(pending.set);
  }
  auto prompt_t = to_tensor(set.prompt);
  std::vector<int64_t> present;
  std::vector<int64_t> count(P, 0);
  for (int64_t p : set.prompt) ++count[p];
  for (int64_t p = 0; p < P; ++p)
    if (count[p] > 0) present.push_back(p);

  // Faithfulness: the judge's class, mapped to dataset indices, against the prompt.
  auto pred_raw = judge.predict(set.images, opt.batch_size, false).argmax(1);
  auto pred = to_tensor(judge_map).index_select(0, pred_raw);
  auto faith = faithfulness(pred, prompt_t, P);

  // The attributes Bias is measured on: each --attr-classifier's column, and the colour oracle
  // where the dataset has a palette and no classifier judges its colour column.
  auto palette = manifest_palette(opt.data_dir);
  struct Judged {
    std::string column;
    std::vector<std::string> names;
    nlohmann::json describe;
    BiasReport report;
    std::vector<int64_t> values;  // per image: index into names, -1 unclassifiable
  };
  std::vector<Judged> judged;
  std::vector<int64_t> present_index(P, -1);
  for (size_t j = 0; j < present.size(); ++j) present_index[present[j]] = static_cast<int64_t>(j);
  auto judge_with = [&](const at::Tensor& attr, Judged jd) {
    auto a = attr.to(torch::kInt64).contiguous();
    std::vector<int64_t> av(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel()), pv;
    for (int64_t p : set.prompt) pv.push_back(present_index[p]);
    jd.report = bias_report(pv, av, static_cast<int64_t>(present.size()), static_cast<int64_t>(jd.names.size()));
    jd.values = std::move(av);
    judged.push_back(std::move(jd));
  };
  bool colour_judged = false;
  for (const Classifier& ac : attr_clfs) colour_judged = colour_judged || ac.column == "colour_name";
  if (!palette.empty() && !colour_judged) {
    Judged jd;
    jd.column = "colour_name";
    for (const auto& c : palette) jd.names.push_back(c.name);
    jd.describe = {{"kind", "colour-oracle"}, {"column", jd.column}, {"classes", jd.names}};
    judge_with(oracle_colours(set.images, palette), std::move(jd));
  }
  for (const Classifier& ac : attr_clfs) {
    ac.check_images(set.images, "the evaluated images");
    Judged jd;
    jd.column = ac.column;
    jd.names = ac.class_names;
    jd.describe = {{"kind", "classifier"}, {"path", ac.path}, {"column", ac.column}, {"classes", jd.names},
                   {"val_accuracy", val_accuracy(ac)}};
    judge_with(ac.predict(set.images, opt.batch_size).argmax(1), std::move(jd));
  }
  if (judged.empty())
    std::fprintf(stderr, "eval: warning: %s has no colour palette and no --attr-classifier was given: Bias not computed\n",
                 opt.data_dir.c_str());
  at::Tensor purity;
  if (!palette.empty()) purity = colour_purity(set.images, palette);

  // Quality in a feature space.
  auto f_ref = fx.extract(set.reference, opt.batch_size, opt.progress, "features (reference)");
  auto f_gen = fx.extract(set.images, opt.batch_size, opt.progress, "features (evaluated)");
  double fd = frechet_distance(f_ref, f_gen);
  KidResult kid = kernel_inception_distance(f_ref, f_gen, opt.kid);
  PrecisionRecall pr = precision_recall(f_ref, f_gen, opt.pr_k);

  nlohmann::json j;
  // Bias: the mean over the judged attributes (one attribute: its Bias), each also on its own.
  double bias_sum = 0;
  nlohmann::json by_attr = nlohmann::json::object(), attrs = nlohmann::json::array();
  for (const auto& jd : judged) {
    bias_sum += jd.report.mean;
    by_attr[jd.column] = jd.report.mean;
    attrs.push_back(jd.describe);
  }
  j["bias"] = judged.empty() ? nlohmann::json(nullptr) : nlohmann::json(bias_sum / judged.size());
  j["bias_by_attribute"] = by_attr;
  j["purity"] = purity.defined() ? nlohmann::json(purity.mean().item<double>()) : nlohmann::json(nullptr);
  j["faithfulness"] = faith.overall;
  j["fd"] = fd;
  j["kid"] = kid.mean;
  j["kid_std"] = kid.std;
  j["precision"] = pr.precision;
  j["recall"] = pr.recall;
  int64_t n_min = -1;
  for (int64_t p : present) n_min = n_min < 0 ? count[p] : std::min(n_min, count[p]);
  j["n_per_prompt"] = n_min;
  j["n_images"] = set.images.size(0);
  j["source"] = set.source;
  j["generation"] = set.generation;
  j["reference"] = {{"data", opt.data_dir}, {"split", opt.ref_split}, {"n", set.reference.size(0)}};
  j["features"] = fx.describe();
  j["classifier"] = {{"path", judge.path}, {"column", judge.column}, {"val_accuracy", val_accuracy(judge)}};
  j["attribute"] = judged.empty() ? nlohmann::json{{"kind", "none"}} : judged[0].describe;  // the first (shares below)
  j["attributes"] = attrs;
  j["kid_subsets"] = kid.subsets;
  j["kid_subset_size"] = kid.subset_size;
  j["pr_k"] = opt.pr_k;
  nlohmann::json per = nlohmann::json::object();
  for (int64_t p : present) {
    nlohmann::json e;
    e["n"] = count[p];
    e["faithfulness"] = faith.per_prompt[p];
    auto mask = prompt_t == p;
    e["purity"] = purity.defined() ? nlohmann::json(purity.masked_select(mask).mean().item<double>()) : nlohmann::json(nullptr);
    if (!judged.empty()) {
      int64_t q = present_index[p];
      const Judged& first = judged[0];
      nlohmann::json shares = nlohmann::json::object(), bias_by = nlohmann::json::object();
      for (size_t k = 0; k < first.names.size(); ++k) shares[first.names[k]] = first.report.shares[q][k];
      for (const auto& jd : judged) bias_by[jd.column] = jd.report.per_prompt[q];
      e["shares"] = shares;
      e["bias"] = first.report.per_prompt[q];
      e["bias_by_attribute"] = bias_by;
    } else {
      e["shares"] = nullptr;
      e["bias"] = nullptr;
    }
    per[names[p]] = e;
  }
  j["per_prompt"] = per;
  j["prompt_order"] = [&] {
    std::vector<std::string> v;
    for (int64_t p : present) v.push_back(names[p]);
    return v;
  }();
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // One row per image, for error analysis and for splitting a set by what was judged in it.
  CsvTable rows;
  rows.header = {"image", "prompt", "seed", "predicted", "faithful"};
  for (const auto& jd : judged) rows.header.push_back(jd.column);
  if (purity.defined()) rows.header.push_back("purity");
  auto pred_c = pred.contiguous();
  const int64_t* pr_p = pred_c.data_ptr<int64_t>();
  for (size_t i = 0; i < set.prompt.size(); ++i) {
    std::vector<std::string> r = {set.image_id.at(i), names[set.prompt[i]], set.image_seed.at(i), names[pr_p[i]],
                                  pr_p[i] == set.prompt[i] ? "1" : "0"};
    for (const auto& jd : judged) r.push_back(jd.values[i] < 0 ? "" : jd.names[jd.values[i]]);
    if (purity.defined()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", purity[static_cast<int64_t>(i)].item<double>());
      r.push_back(buf);
    }
    rows.rows.push_back(std::move(r));
  }

  ensure_dir(out_dir);
  write_csv(join_path(out_dir, "per_image.csv"), rows);
  write_sample_grid(join_path(out_dir, "samples.png"), set.images, set.prompt, present, set.generation);
  atomic_write_text(join_path(out_dir, "metrics.json"), j.dump(2) + "\n");
  atomic_write_text(join_path(out_dir, "metrics.md"), metrics_markdown(j));
  return j;
}

}  // namespace invdiff
