// A config file's JSON as a typed config: absent keys keep the struct's defaults, unknown keys are
// ignored (the NLOHMANN_DEFINE_TYPE_*_WITH_DEFAULT macros), then T::validate(). Every error is
// std::invalid_argument "<path>: <what>", one line.
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "core/json.h"

namespace invdiff {

template <class T>
T config_from_json(const nlohmann::json& j, const std::string& path) {
  T c;
  try {
    c = j.get<T>();
  } catch (const nlohmann::json::exception& e) {
    std::string m = e.what();
    throw std::invalid_argument(path + ": a value has the wrong type (" + m.substr(m.find(']') + 2) + ")");
  }
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
  return c;
}

}  // namespace invdiff
