// Option helpers for the commands: optional values ("unset: the recipe's / the stored default"),
// enums given by name, range checks with readable messages, renamed flags, and flags that another
// flag makes meaningless. Parsed once here at the CLI edge; docs/cli.md says why.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

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

// Range checks whose messages read "--num: must be > 0 (got 0)": CLI11's PositiveNumber and
// NonNegativeNumber print their bound as a 300-digit number. Bounds are inclusive.
CLI::Validator positive();                    // > 0
CLI::Validator non_negative();                // >= 0
CLI::Validator in_range(double lo, double hi);
// A seed or count read into an unsigned integer: CLI11 would wrap -1 to 2^64 - 1.
CLI::Validator whole_number();

// cpu, cuda or cuda:N (whether a CUDA device exists is checked when a command starts).
CLI::Validator device_name();

// An image file to write: refuses any extension but .png (the file would hold a PNG anyway).
CLI::Validator png_path();

// A flag that sets `dst` to false ("--no-ema"): help shows no "{false}".
CLI::Option* add_negated_flag(CLI::App* cmd, const std::string& name, bool& dst, const std::string& desc);

// A renamed option, kept hidden for one release: it still sets `dst` (a value or an optional)
// and prints its new name.
template <class T> struct option_value { using type = T; };
template <class T> struct option_value<std::optional<T>> { using type = T; };
template <class Dst>
CLI::Option* add_old_name(CLI::App* cmd, const std::string& old_name, const std::string& new_name, Dst& dst) {
  using T = typename option_value<Dst>::type;
  return cmd
      ->add_option_function<T>(old_name, [&dst, old_name, new_name](const T& v) {
        std::fprintf(stderr, "note: %s is now %s (the old name goes in the next release)\n", old_name.c_str(),
                     new_name.c_str());
        dst = v;
      }, "old name of " + new_name)
      ->group("");  // hidden from help
}

// A usage error (exit code 2, like CLI11's own) thrown from a command's callback.
[[noreturn]] void usage_error(const std::string& msg);

// When `when` holds, refuses (a usage error) the first option of `names` (as spelled: "-b",
// "--lr") given on the command line: "<flag> would be ignored: <why>".
void refuse_given(const CLI::App* cmd, bool when, const std::vector<std::string>& names, const std::string& why);
// Refuses, as a usage error, every option of `cmd` given except those in `keep`: "<flags> would be
// ignored <why>". For --resume, where the stored configuration wins over the flags.
void refuse_given_except(const CLI::App* cmd, const std::vector<std::string>& keep, const std::string& why);

}  // namespace invdiff::cli
