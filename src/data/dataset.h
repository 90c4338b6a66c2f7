// A dataset directory: images + metadata.csv (a `file` column with paths relative to the
// directory, a target column, optionally `split` and attribute columns) + optional
// manifest.json (target column, class order, palette). Loaded whole into memory as uint8, one
// byte per pixel (200 k images at 64 x 64 take 2.5 GB; as float32 they took four times that), and
// converted to the model's [-1, 1] floats one batch at a time (docs/data.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "core/csv.h"

namespace invdiff {

struct DatasetOptions {
  std::string split = "train";   // rows whose `split` column equals this ("" or no column: all)
  std::string target_column;     // "" : the manifest's target_column, else "class"
  int channels = 3;
  int64_t limit = -1;            // keep the first `limit` rows (tests, quick runs)
};

struct ImageDataset {
  std::string root;
  std::string split;
  std::string target_column;
  std::vector<std::string> files;        // the metadata's row key, in row order
  std::vector<std::string> class_names;  // condition index -> name
  // [N, C, H, W] uint8 as stored; sets built in memory (tests) may hold float in [-1, 1]. Read
  // them through batch() or to_unit_range (data/image_io.h), never as floats directly.
  at::Tensor images;
  at::Tensor labels;                     // [N] int64 condition indices
  int64_t size() const { return static_cast<int64_t>(files.size()); }
  // Rows idx ([B] int64) as float [B, C, H, W] in [-1, 1]: what a trainer or scorer feeds a model.
  at::Tensor batch(const at::Tensor& idx) const;
};

// What an artefact made from a dataset records of it, and what its consumers check it against:
// root, split, target column, rows, classes, and `content`, a hash over the row keys, the images
// and the labels (so a copy of the directory matches, and another cfmnist with the same file
// names, or another --target or --limit, does not).
nlohmann::json dataset_fingerprint(const ImageDataset& data);
// Throws one line naming both sides when the fingerprint `recorded` by `what` (e.g. "groups in
// DIR") names other content than `data`. A record without `content` (older artefacts) passes.
void check_dataset_fingerprint(const nlohmann::json& recorded, const ImageDataset& data, const std::string& what);

// Throws one line naming both class lists unless `names` (those of `whose`, e.g. "the model
// m.pt") equals the dataset's, names and order: condition k must mean the same class on both sides.
void check_class_names(const std::vector<std::string>& names, const std::string& whose, const ImageDataset& data,
                       const std::string& what);

// Reads only `file`, `split` and the target column: the label-free path never sees the
// attribute columns. Errors name the directory, the file or the column at fault.
ImageDataset load_dataset(const std::string& dir, const DatasetOptions& opt = {});

// The metadata rows of a split with all their columns, for oracle groups and reports only.
CsvTable load_metadata(const std::string& dir, const std::string& split = "");

// The class list of a dataset directory (manifest order, else sorted unique target values).
std::vector<std::string> dataset_class_names(const std::string& dir, const std::string& target_column = "");

// Seeded shuffled minibatches whose content depends only on (seed, step): a resumed run sees
// exactly the batches an uninterrupted one would. Each epoch is a fresh permutation; the last
// partial batch of an epoch is dropped.
class BatchSampler {
 public:
  BatchSampler(int64_t n, int64_t batch_size, uint64_t seed);
  std::vector<int64_t> batch(int64_t step) const;
  at::Tensor batch_tensor(int64_t step) const;  // same, as int64 tensor
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

 private:
  int64_t n_, batch_, steps_per_epoch_;
  uint64_t seed_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> perm_;
};

}  // namespace invdiff
