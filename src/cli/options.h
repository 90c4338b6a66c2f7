// Option helpers for the commands: optional values ("unset: the recipe's / the stored default")
// and enums given by name, parsed once here at the CLI edge.
#pragma once
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "core/json.h"

namespace invdiff::cli {

// An option that leaves `dst` unset unless given.
template <class T>
CLI::Option* add_optional(CLI::App* cmd, const std::string& name, std::optional<T>& dst, const std::string& desc) {
  return cmd->add_option_function<T>(name, [&dst](const T& v) { dst = v; }, desc);
}

// An enum option: its choices are the enum's names (core/json.h).
template <class E>
CLI::Option* add_enum(CLI::App* cmd, const std::string& name, E& dst, const std::string& desc) {
  return cmd->add_option_function<std::string>(name, [&dst](const std::string& s) { dst = parse_enum<E>(s); }, desc)
      ->check(CLI::IsMember(enum_names<E>()))
      ->default_str(enum_name(dst));
}
template <class E>
CLI::Option* add_enum(CLI::App* cmd, const std::string& name, std::optional<E>& dst, const std::string& desc) {
  return cmd->add_option_function<std::string>(name, [&dst](const std::string& s) { dst = parse_enum<E>(s); }, desc)
      ->check(CLI::IsMember(enum_names<E>()));
}

}  // namespace invdiff::cli
