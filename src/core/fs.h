// Filesystem helpers. Every write that matters is atomic: a temp file beside the target, then
// rename(2), so an interrupted run never leaves a half-written file under the final name.
#pragma once
#include <functional>
#include <string>

namespace invdiff {

void atomic_write_text(const std::string& path, const std::string& content);
// Calls writer(tmp_path) and renames tmp_path to path if it returns without throwing.
void atomic_write_with(const std::string& path, const std::function<void(const std::string&)>& writer);
std::string read_text(const std::string& path);
void ensure_dir(const std::string& path);
bool file_exists(const std::string& path);
std::string join_path(const std::string& a, const std::string& b);
// Absolute and lexically normal (no "." or ".." parts): how paths are recorded in metadata.
std::string absolute_path(const std::string& p);
// Why `rel`, a path read from a data file (a dataset's metadata.csv, a published label list), may
// not be opened as root/rel: "" when it stays inside root, else the reason ("is an absolute path",
// "leaves it through '..'", "resolves through a symlink to P"). Data files are input, so a row
// naming ../../etc/passwd must not make a command read outside the directory it was given.
std::string path_escape_reason(const std::string& root, const std::string& rel);

}  // namespace invdiff
