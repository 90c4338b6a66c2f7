#include "data/palette.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/fs.h"

namespace invdiff {

const std::vector<Colour>& default_palette() {
  static const std::vector<Colour> p = {
      {"red", 1.f, .15f, .15f},   {"green", .15f, 1.f, .15f},  {"blue", .15f, .15f, 1.f},
      {"yellow", 1.f, 1.f, .15f}, {"magenta", 1.f, .15f, 1.f}, {"cyan", .15f, 1.f, 1.f}};
  return p;
}

std::vector<Colour> manifest_palette(const std::string& dir) {
  std::string path = join_path(dir, "manifest.json");
  if (!file_exists(path)) return {};
  std::vector<Colour> p;
  try {
    auto m = nlohmann::json::parse(read_text(path));
    if (!m.contains("palette")) return {};
    for (const auto& c : m.at("palette")) {
      auto rgb = c.at("rgb").get<std::vector<float>>();
      if (rgb.size() != 3) throw std::runtime_error("an rgb entry needs 3 values");
      p.push_back({c.at("name").get<std::string>(), rgb[0], rgb[1], rgb[2]});
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": invalid palette (" + std::string(e.what()) + ")");
  }
  return p;
}

}  // namespace invdiff
