// The evaluation classifier: a tiny run learns, the checkpoint round-trips, bad input is refused.
// Its cfmnist is built from the synthetic Fashion-MNIST (tests/fixtures.h).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <filesystem>

#include "core/fs.h"
#include "data/dataset.h"
#include "eval/classifier.h"
#include "eval/classifier_train.h"
#include "eval/metrics.h"
#include "fixtures.h"
#include "eval/eval_fixture.h"
#include "train/checkpoint.h"

using namespace invdiff;

namespace {

class ClassifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    one_ = new OneThread();
    dir_ = new TempDir();
    tiny_cfmnist(data(), 20, 20);
    trained_ = new Classifier(train_classifier(data(), invdiff_test::tiny_classifier_config(120),
                                               join_path(dir_->path, "clf"), torch::kCPU, false, &result_));
  }
  static void TearDownTestSuite() {
    delete trained_;
    delete dir_;
    delete one_;
  }
  static std::string data() { return join_path(dir_->path, "cfm"); }
  static OneThread* one_;
  static TempDir* dir_;
  static Classifier* trained_;
  static ClassifierTrainResult result_;
};
OneThread* ClassifierTest::one_ = nullptr;
TempDir* ClassifierTest::dir_ = nullptr;
Classifier* ClassifierTest::trained_ = nullptr;
ClassifierTrainResult ClassifierTest::result_;

}  // namespace

TEST_F(ClassifierTest, TinyRunLearnsGarmentsWellAboveChance) {
  // Trained on the 80 balanced ref images (72 after the stratified 10 % hold-out: 2 per class);
  // judged on the 80 *train* images it never saw. Chance is 0.25 with 4 classes.
  EXPECT_EQ(result_.train_size, 72);
  EXPECT_EQ(result_.val_size, 8);
  auto held_out = load_dataset(data(), {"train", "", 3, -1});
  auto pred = trained_->predict(held_out.images).argmax(1);
  auto rep = classification_report(pred, held_out.labels, 4);
  EXPECT_GT(rep.accuracy, 0.6) << "macro-F1 " << rep.macro_f1;
}

TEST_F(ClassifierTest, CheckpointRoundTripsExactly) {
  auto back = load_classifier(join_path(dir_->path, "clf"), torch::kCPU);  // a directory works
  EXPECT_EQ(back.class_names, trained_->class_names);
  EXPECT_EQ(back.column, "class_name");
  auto x = load_dataset(data(), {"ref", "", 3, 10}).images;
  EXPECT_TRUE(torch::equal(back.predict(x), trained_->predict(x)));
  auto f = back.features(x);
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{10, 32}));
  EXPECT_TRUE(torch::equal(f, trained_->features(x)));

  auto meta = back.meta;
  EXPECT_EQ(meta["kind"], "classifier");
  EXPECT_EQ(meta["dataset"]["split"], "ref");
  EXPECT_TRUE(meta["val"]["accuracy"].is_number());
  auto report = nlohmann::json::parse(read_text(join_path(dir_->path, "clf/metrics.json")));
  EXPECT_DOUBLE_EQ(report["val"]["accuracy"].get<double>(), result_.val_accuracy);
  EXPECT_TRUE(is_classifier_checkpoint(join_path(dir_->path, "clf/checkpoint.pt")));
}

TEST_F(ClassifierTest, AnyMetadataColumnCanBeTheLabel) {
  // Colour is trivial to learn: a few steps separate red from green on unseen images.
  ClassifierTrainConfig tc;
  tc.column = "colour_name";
  tc.steps = 30;
  tc.batch_size = 32;
  tc.warmup = 5;
  tc.net.width = 8;
  tc.net.feature_dim = 16;
  auto c = train_classifier(data(), tc, join_path(dir_->path, "colour"), torch::kCPU, false);
  EXPECT_EQ(c.class_names, (std::vector<std::string>{"green", "red"}));
  auto held_out = load_dataset(data(), {"train", "colour_name", 3, -1});
  auto rep = classification_report(c.predict(held_out.images).argmax(1), held_out.labels, 2);
  EXPECT_GT(rep.accuracy, 0.9);
}

TEST_F(ClassifierTest, WrongImageSizeIsAClearError) {
  auto msg = error_of([&] { trained_->predict(torch::zeros({2, 3, 8, 8})); });
  EXPECT_NE(msg.find("expects 3x16x16 images"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3x8x8"), std::string::npos) << msg;
}

TEST_F(ClassifierTest, OtherCheckpointKindsAreRefused) {
  std::string p = join_path(dir_->path, "not_a_classifier.pt");
  torch::nn::Linear lin(2, 2);
  save_checkpoint(p, *lin, nullptr, nullptr, {{"kind", "diffusion"}});
  auto msg = error_of([&] { load_classifier(p, torch::kCPU); });
  EXPECT_NE(msg.find("not a classifier checkpoint"), std::string::npos) << msg;
  EXPECT_FALSE(is_classifier_checkpoint(p));
  msg = error_of([&] { load_classifier(join_path(dir_->path, "missing.pt"), torch::kCPU); });
  EXPECT_NE(msg.find("checkpoint not found"), std::string::npos) << msg;
}

TEST(ClassifierConfigTest, ValidationNamesTheField) {
  ClassifierConfig c;
  c.num_classes = 1;
  auto msg = error_of([&] { c.validate(); });
  EXPECT_NE(msg.find("num_classes"), std::string::npos) << msg;
}
