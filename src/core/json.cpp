#include "core/json.h"

namespace invdiff {

std::string join_choices(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) s += i + 1 == names.size() ? " or " : ", ";
    s += names[i];
  }
  return s;
}

nlohmann::json non_default_fields(const nlohmann::json& value, const nlohmann::json& defaults) {
  if (!value.is_object() || !defaults.is_object()) return value;
  nlohmann::json out = nlohmann::json::object();
  for (auto it = value.begin(); it != value.end(); ++it) {
    auto d = defaults.find(it.key());
    if (d == defaults.end()) {
      out[it.key()] = it.value();
    } else if (*d != it.value()) {
      out[it.key()] = it.value().is_object() ? non_default_fields(it.value(), *d) : it.value();
    }
  }
  return out;
}

}  // namespace invdiff
