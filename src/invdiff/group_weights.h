// Group weights for the min step, joined to the training rows: reads a groups directory (or
// "none", the ERM control), aligns it to the dataset by row key, optionally hardens it (argmax
// one-hot) and crosses it with the condition, and describes what was used for the checkpoint.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include <ATen/core/Tensor.h>

#include "data/dataset.h"

namespace invdiff {

struct GroupWeights {
  at::Tensor W;          // [N, G'] aligned to data's rows; undefined for "none"
  nlohmann::json info;   // mode, path, fingerprint, group names, hard, cross_class
};

GroupWeights load_group_weights(const std::string& groups, const ImageDataset& data, bool hard = false,
                                bool cross_class = false);

}  // namespace invdiff
