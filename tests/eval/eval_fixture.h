// The fixture of the `invdiff eval` tests (tests/eval/test_eval.cpp and the CLI's in
// tests/cli/test_eval_cli.cpp): a tiny cfmnist from the synthetic Fashion-MNIST, 20 train and 20
// reference images per class, and a small garment classifier trained on it, built once per suite.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/csv.h"
#include "core/fs.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "eval/classifier.h"
#include "eval/classifier_train.h"
#include "eval/evaluate.h"
#include "fixtures.h"

// Named, not anonymous: the suite's tests live in two files and must share one fixture class.
namespace invdiff_test {

using namespace invdiff;

// The classifier settings the eval and classifier tests train with (tiny cfmnist, 2 threads' worth).
inline ClassifierTrainConfig tiny_classifier_config(int64_t steps) {
  ClassifierTrainConfig tc;
  tc.steps = steps;
  tc.batch_size = 32;
  tc.warmup = 10;
  tc.net.width = 16;
  tc.net.feature_dim = 32;
  return tc;
}

class EvalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    one_ = new OneThread();
    dir_ = new TempDir();
    tiny_cfmnist(data(), 20, 20);
    train_classifier(data(), tiny_classifier_config(80), clf(), torch::kCPU, false);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete one_;
  }
  static std::string data() { return join_path(dir_->path, "cfm"); }
  static std::string clf() { return join_path(dir_->path, "clf"); }
  static std::string path(const std::string& p) { return join_path(dir_->path, p); }

  static EvalOptions base_options() {
    EvalOptions o;
    o.data_dir = data();
    o.classifier = clf();
    o.progress = false;
    o.kid.subsets = 10;
    return o;
  }

  // Copies one split's images into a folder, with the prompt in a PNG chunk (chunks = true)
  // or in a CSV file,class_name (returned path).
  static std::string export_split(const std::string& split, const std::string& folder, bool chunks) {
    auto meta = load_metadata(data(), split);
    size_t fc = meta.column("file"), cc = meta.column("class_name");
    ensure_dir(folder);
    CsvTable csv;
    csv.header = {"file", "class_name"};
    for (const auto& r : meta.rows) {
      std::string name = std::filesystem::path(r[fc]).filename().string();
      auto img = read_image(join_path(data(), r[fc]));
      TextChunks text;
      if (chunks) text["parameters"] = nlohmann::json{{"prompt", r[cc]}}.dump();
      write_png(join_path(folder, name), img, text);
      csv.rows.push_back({name, r[cc]});
    }
    std::string csv_path = folder + ".csv";
    write_csv(csv_path, csv);
    return csv_path;
  }

  inline static OneThread* one_ = nullptr;
  inline static TempDir* dir_ = nullptr;
};

}  // namespace invdiff_test
