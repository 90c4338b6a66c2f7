#include "core/json.h"

#include <cstdio>

namespace invdiff {

std::string human_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

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

void apply_setting(nlohmann::json& j, const std::string& setting) {
  const auto eq = setting.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument("--set '" + setting + "': expected KEY=VALUE (e.g. debias.lr=3e-4)");
  const std::string key = setting.substr(0, eq), text = setting.substr(eq + 1);
  nlohmann::json* node = &j;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(part))
      throw std::invalid_argument("--set " + key + ": no such setting" +
                                  (node->is_object() ? " (" + part + " is not one of: " + [&] {
                                    std::string names;
                                    for (auto it = node->begin(); it != node->end(); ++it)
                                      names += (names.empty() ? "" : ", ") + it.key();
                                    return names;
                                  }() + ")"
                                                     : ""));
    node = &(*node)[part];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (node->is_object()) throw std::invalid_argument("--set " + key + ": names a group of settings, not one");
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  *node = value.is_discarded() ? nlohmann::json(text) : value;
}

}  // namespace invdiff
