#include "cli/options.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace invdiff::cli {

namespace {
// The value as a double, or a message when it is not a number.
std::string as_number(const std::string& s, double& v) {
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  if (s.empty() || end == s.c_str() || *end != '\0' || std::isnan(v)) return "'" + s + "' is not a number";
  return {};
}

CLI::Validator bound(const std::string& desc, double lo, double hi, const std::string& need) {
  return CLI::Validator(
      [lo, hi, need](std::string& s) {
        double v;
        if (auto e = as_number(s, v); !e.empty()) return e;
        if (v < lo || v > hi) return "must be " + need + " (got " + s + ")";
        return std::string();
      },
      desc);
}
}  // namespace

CLI::Validator positive() {
  return CLI::Validator(
      [](std::string& s) {
        double v;
        if (auto e = as_number(s, v); !e.empty()) return e;
        if (!(v > 0)) return "must be > 0 (got " + s + ")";
        return std::string();
      },
      "POSITIVE");
}

CLI::Validator non_negative() { return bound("NONNEGATIVE", 0, HUGE_VAL, ">= 0"); }

CLI::Validator in_range(double lo, double hi) {
  const std::string r = "[" + human_number(lo) + ", " + human_number(hi) + "]";
  return bound("in " + r, lo, hi, "in " + r);
}

CLI::Validator whole_number() {
  return CLI::Validator(
      [](std::string& s) {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
          return "must be a whole number >= 0 (got " + s + ")";
        return std::string();
      },
      "");  // the type already reads UINT
}

CLI::Validator device_name() {
  return CLI::Validator(
      [](std::string& s) {
        bool ok = s == "cpu" || s == "cuda" ||
                  (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.find_first_not_of("0123456789", 5) == std::string::npos);
        return ok ? std::string() : "unknown device '" + s + "' (expected cpu, cuda or cuda:N)";
      },
      "DEVICE");
}

CLI::Validator png_path() {
  return CLI::Validator(
      [](std::string& s) {
        std::string ext = s.size() >= 4 ? s.substr(s.size() - 4) : "";
        for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (ext != ".png") return "images are written as PNG: the file name must end in .png (got " + s + ")";
        return std::string();
      },
      "*.png");
}

CLI::Option* add_negated_flag(CLI::App* cmd, const std::string& name, bool& dst, const std::string& desc) {
  return cmd->add_flag_callback(name, [&dst] { dst = false; }, desc);
}

void usage_error(const std::string& msg) { throw CLI::ValidationError(msg); }

void refuse_given(const CLI::App* cmd, bool when, const std::vector<std::string>& names, const std::string& why) {
  if (!when) return;
  for (const auto& n : names)
    if (cmd->count(n) > 0) usage_error(n + " would be ignored: " + why);
}

void refuse_given_except(const CLI::App* cmd, const std::vector<std::string>& keep, const std::string& why) {
  std::string bad;
  for (const CLI::Option* opt : cmd->get_options()) {
    if (opt->count() == 0) continue;
    const std::string name = opt->get_lnames().empty() ? opt->get_name() : "--" + opt->get_lnames().front();
    bool kept = std::any_of(keep.begin(), keep.end(), [&](const std::string& k) { return opt->check_name(k); });
    if (!kept) bad += (bad.empty() ? "" : ", ") + name;
  }
  if (!bad.empty()) usage_error(bad + " would be ignored " + why);
}

}  // namespace invdiff::cli
