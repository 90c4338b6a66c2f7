// JSON for typed configs. Configs are plain structs serialised by nlohmann-json's
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT (absent keys keep the struct's defaults, so a
// file written before a field existed still reads). This header adds what that macro lacks:
//   - std::optional<T> as null or T ("unset: use the recipe's / the stored default");
//   - strict enums as strings (INVDIFF_JSON_ENUM): one table gives the JSON form, the CLI
//     choices and the parse error, and an unknown name is an error, never the first entry;
//   - config_key: the fields of a config that differ from its defaults, which is what a stage
//     key records (adding an option with a default leaves every existing key as it was).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& v) {
    if (v) j = *v;
    else j = nullptr;
  }
  static void from_json(const json& j, std::optional<T>& v) {
    if (j.is_null()) v.reset();
    else v = j.get<T>();
  }
};
}  // namespace nlohmann

namespace invdiff {

// Specialised by INVDIFF_JSON_ENUM: what the enum is called in messages and its (value, name) table.
template <class E>
struct EnumTable;

template <class E>
std::string enum_name(E e) {
  for (const auto& [v, n] : EnumTable<E>::entries())
    if (v == e) return n;
  throw std::logic_error(std::string(EnumTable<E>::what) + ": value without a name");
}

template <class E>
std::vector<std::string> enum_names() {
  std::vector<std::string> out;
  for (const auto& [v, n] : EnumTable<E>::entries()) out.push_back(n);
  return out;
}

// "a, b or c"
std::string join_choices(const std::vector<std::string>& names);

// A number as people write it in messages: %g (10, 0.5, 1e+09), never 300 digits.
std::string human_number(double v);

template <class E>
E parse_enum(const std::string& s) {
  for (const auto& [v, n] : EnumTable<E>::entries())
    if (n == s) return v;
  throw std::invalid_argument("unknown " + std::string(EnumTable<E>::what) + " '" + s + "' (" +
                              join_choices(enum_names<E>()) + ")");
}

#define INVDIFF_JSON_ENUM(E, WHAT, ...)                                                       \
  template <>                                                                                 \
  struct EnumTable<E> {                                                                       \
    static constexpr const char* what = WHAT;                                                 \
    static const std::vector<std::pair<E, std::string>>& entries() {                          \
      static const std::vector<std::pair<E, std::string>> t = __VA_ARGS__;                    \
      return t;                                                                               \
    }                                                                                         \
  };                                                                                          \
  inline void to_json(nlohmann::json& j, const E& e) { j = enum_name(e); }                    \
  inline void from_json(const nlohmann::json& j, E& e) { e = parse_enum<E>(j.get<std::string>()); }

// The members of `value` (an object) whose values differ from those in `defaults`, recursively
// for nested objects (an equal nested object is left out; a differing one keeps only its
// differing members). Non-objects: value itself.
nlohmann::json non_default_fields(const nlohmann::json& value, const nlohmann::json& defaults);

template <class T>
nlohmann::json config_key(const T& c) {
  return non_default_fields(nlohmann::json(c), nlohmann::json(T{}));
}

// "a.b.c=value": sets the existing member a.b.c of the object `j`. The value is read as JSON when
// it parses as JSON (numbers, true/false, null, arrays) and as a string otherwise (enum names).
// A path that does not exist is an error naming it: a typo never silently does nothing.
void apply_setting(nlohmann::json& j, const std::string& setting);

// A copy of `c` with the settings applied (a value of the wrong type is an error naming it).
template <class T>
T with_settings(const T& c, const std::vector<std::string>& settings) {
  if (settings.empty()) return c;
  nlohmann::json j = c;
  for (const auto& s : settings) apply_setting(j, s);
  try {
    return j.get<T>();
  } catch (const nlohmann::json::exception& e) {
    std::string all;
    for (const auto& s : settings) all += (all.empty() ? "" : ", ") + s;
    throw std::invalid_argument("--set " + all + ": a value has the wrong type (" + e.what() + ")");
  }
}

}  // namespace invdiff
