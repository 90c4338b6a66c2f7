// metrics.json -> metrics.md: a per-prompt table (n, faithfulness, purity, attribute shares,
// Bias) and a quality table (FD, KID, precision, recall), naming the feature space used.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace invdiff {

std::string metrics_markdown(const nlohmann::json& metrics);

}  // namespace invdiff
