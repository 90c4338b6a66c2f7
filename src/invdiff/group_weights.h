// Group weights for the min step, joined to the training rows: reads a groups directory (or
// none, the ERM control), aligns it to the dataset by row key, optionally hardens it (argmax
// one-hot) and crosses it with the condition, and describes what was used for the checkpoint.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

#include "data/dataset.h"

namespace invdiff {

// Where the min step's groups come from: none (the ERM control: the plain mean loss) or a groups
// directory (or its groups.csv) written by `invdiff groups`.
struct GroupsSource {
  std::optional<std::string> path;  // unset: none
  static GroupsSource none() { return {}; }
  static GroupsSource at(std::string dir_or_file) { return {std::move(dir_or_file)}; }
  static GroupsSource parse(const std::string& s) { return s == "none" ? none() : at(s); }  // the CLI's spelling
  bool is_none() const { return !path.has_value(); }
};

struct GroupWeights {
  at::Tensor W;          // [N, G'] aligned to data's rows; undefined for "none"
  nlohmann::json info;   // mode, path, fingerprint, group names, hard, cross_class
};

GroupWeights load_group_weights(const GroupsSource& groups, const ImageDataset& data, bool hard = false,
                                bool cross_class = false);

}  // namespace invdiff
