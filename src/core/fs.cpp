#include "core/fs.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace invdiff {

void atomic_write_with(const std::string& path, const std::function<void(const std::string&)>& writer) {
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    writer(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error("cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
}

void atomic_write_text(const std::string& path, const std::string& content) {
  atomic_write_with(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    out << content;
    out.flush();
    if (!out) throw std::runtime_error("write failed: " + tmp);
  });
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ensure_dir(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw std::runtime_error("cannot create directory " + path + ": " + ec.message());
}

bool file_exists(const std::string& path) { return fs::exists(path); }

std::string join_path(const std::string& a, const std::string& b) { return (fs::path(a) / b).string(); }

std::string absolute_path(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

namespace {
// Whether `p` (lexically normal, relative) starts by climbing out: "..", "../x".
bool climbs_out(const fs::path& p) { return p.empty() || *p.begin() == ".."; }
}  // namespace

std::string path_escape_reason(const std::string& root, const std::string& rel) {
  if (rel.empty()) return "is empty";
  const fs::path r(rel);
  if (r.is_absolute() || r.has_root_name() || r.has_root_directory()) return "is an absolute path";
  if (climbs_out(r.lexically_normal())) return "leaves it through '..'";
  // Symlinks anywhere on the way (the file itself or a folder) are followed for what exists.
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(root, ec);
  if (ec) return "";  // an unreadable root fails on its own, with its own message
  const fs::path target = fs::weakly_canonical(fs::path(root) / r, ec);
  if (ec) return "";
  if (climbs_out(target.lexically_relative(base))) return "resolves through a symlink to " + target.string();
  return "";
}

}  // namespace invdiff
