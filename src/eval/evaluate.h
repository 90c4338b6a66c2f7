// `invdiff eval`: one function that scores a set of images - sampled from a model, read from a
// folder, or the real reference split itself - with every metric of docs/evaluation.md and writes
// OUT/metrics.json, OUT/metrics.md, OUT/samples.png and OUT/per_image.csv (one row per image: its
// id, prompt, seed, the judge's class, faithful 0/1, each judged attribute's value, purity). The CLI and `run` / `bench` call it.
#pragma once
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "eval/metrics.h"
#include "sampling/generate.h"

namespace invdiff {

struct EvalOptions {
  std::string data_dir;            // dataset directory; its `ref_split` rows are the reference set
  std::string ref_split = "ref";
  std::string target_column;       // the condition column ("" : the manifest's)

  // What to evaluate: exactly one of these three.
  std::string model;               // diffusion checkpoint: n_per_prompt samples of each class
  std::string images_dir;          // folder of PNGs (see eval/image_folder.h)
  bool reference = false;          // the reference split: one seeded half scored against the other

  std::string images_csv;          // prompts of images_dir (file,class_name); "" : PNG text chunks
  int64_t n_per_prompt = 500;
  GenerateOptions gen;
  bool use_ema = true;
  std::optional<double> guidance_ratio;  // guided models: sampling-time r override (unset: the stored r)

  std::string classifier;          // "" : default_classifier_dir(out), trained there if absent
  std::string features;            // "" : the classifier's penultimate layer; else a TorchScript
                                   // file or another invdiff classifier checkpoint
  // Attribute classifiers for Bias (one per attribute column); the colour oracle judges colour
  // where the manifest has a palette and none of these judges colour_name.
  std::vector<std::string> attr_classifiers;
  KidOptions kid;
  int64_t pr_k = 3;
  uint64_t seed = 0;               // halves of --reference
  int64_t batch_size = 500;        // images per feature / classifier call
  bool progress = true;
};

// OUT/../classifier (OUT "." or a bare name: ./classifier): beside the evaluation, shared by
// the evaluations of one run.
std::string default_classifier_dir(const std::string& out_dir);

// Writes OUT/metrics.json (returned), OUT/metrics.md, OUT/samples.png and OUT/per_image.csv.
nlohmann::json evaluate(const EvalOptions& opt, const std::string& out_dir, const c10::Device& device);

}  // namespace invdiff
