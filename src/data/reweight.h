// Per-sample weights 1 / |group| from true label columns: the labelled reweighting baseline
// (every group contributes equally to the loss). Reads attribute columns, so never used by the
// label-free method.
#pragma once
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/csv.h"

namespace invdiff {

// Weights aligned to `files` (joined to meta by its `file` column), normalised to mean 1.
at::Tensor inverse_frequency_weights(const CsvTable& meta, const std::vector<std::string>& files,
                                     const std::vector<std::string>& columns);

}  // namespace invdiff
