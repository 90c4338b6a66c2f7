// CelebA (aligned and cropped) as published: img_align_celeba/, list_attr_celeba.txt and
// list_eval_partition.txt, plain text with fields separated by runs of spaces.
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/fs.h"
#include "data/import.h"
#include "data/import_util.h"

namespace invdiff {

namespace {
// The lines of a text file split on runs of whitespace (CR of CRLF files included), blank
// lines dropped; each with its 1-based line number.
std::vector<std::pair<size_t, std::vector<std::string>>> read_fields(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::pair<size_t, std::vector<std::string>>> out;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    std::istringstream ss(line);
    std::vector<std::string> f;
    for (std::string w; ss >> w;) f.push_back(w);
    if (!f.empty()) out.emplace_back(n, std::move(f));
  }
  return out;
}

const char* const kHair[] = {"Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"};
}  // namespace

PublishedDataset read_celeba(const std::string& from) {
  const std::string attr_path = join_path(from, "list_attr_celeba.txt");
  const std::string part_path = join_path(from, "list_eval_partition.txt");
  auto attr = read_fields(attr_path);
  if (attr.size() < 2 || attr[0].second.size() != 1)
    throw std::runtime_error(attr_path + ": expected a count line and a header line of attribute names first");
  const std::vector<std::string> names = attr[1].second;
  std::map<std::string, std::string> partition;
  for (const auto& [n, f] : read_fields(part_path)) {
    if (f.size() != 2 || (f[1] != "0" && f[1] != "1" && f[1] != "2"))
      throw std::runtime_error(part_path + ": line " + std::to_string(n) + ": expected 'file 0|1|2'");
    partition[f[0]] = f[1];
  }

  PublishedDataset pub;
  pub.name = "celeba";
  pub.from = from;
  std::map<std::string, size_t> at;
  for (size_t a = 0; a < names.size(); ++a) at[names[a]] = a;
  const bool gender = at.count("Male") > 0;
  bool hair = true;
  for (const char* h : kHair) hair = hair && at.count(h) > 0;
  if (gender) pub.columns.push_back({"gender", {"female", "male"}});
  if (hair) pub.columns.push_back({"hair", {"black", "blond", "brown", "gray"}});
  for (const auto& a : names) pub.columns.push_back({a, {"not_" + a, a}});
  pub.default_target = "gender";
  pub.default_attributes = {"hair"};
  pub.splits = "list_eval_partition 0 -> train, 1 -> val (as published), 2 (test) -> ref";

  size_t declared = 0;
  try {
    declared = std::stoul(attr[0].second[0]);
  } catch (const std::exception&) {
    throw std::runtime_error(attr_path + ": line 1: '" + attr[0].second[0] + "' is not an image count");
  }
  if (declared != attr.size() - 2)
    throw std::runtime_error(attr_path + ": line 1 says " + std::to_string(declared) + " images but the file lists " +
                             std::to_string(attr.size() - 2));
  for (size_t i = 2; i < attr.size(); ++i) {
    const auto& [n, f] = attr[i];
    const std::string where = attr_path + ": line " + std::to_string(n);
    if (f.size() != names.size() + 1)
      throw std::runtime_error(where + " has " + std::to_string(f.size() - 1) + " values but the header names " +
                               std::to_string(names.size()) + " attributes");
    std::vector<int> v(names.size());
    for (size_t a = 0; a < names.size(); ++a) {
      if (f[a + 1] != "1" && f[a + 1] != "-1")
        throw std::runtime_error(where + ": value '" + f[a + 1] + "' of " + names[a] + " is not 1 or -1");
      v[a] = f[a + 1] == "1";
    }
    auto p = partition.find(f[0]);
    if (p == partition.end()) throw std::runtime_error(part_path + ": no line for " + f[0] + " (listed in " + attr_path + ")");
    PublishedRow row;
    row.file = "img_align_celeba/" + f[0];
    check_inside(from, row.file, attr_path, n);
    row.split = p->second == "0" ? "train" : p->second == "1" ? "val" : "ref";
    if (gender) row.labels.push_back(v[at["Male"]] ? "male" : "female");
    if (hair) {
      int k = -1, set = 0;
      for (int h = 0; h < 4; ++h)
        if (v[at[kHair[h]]]) k = h, ++set;
      row.labels.push_back(set == 1 ? pub.columns[gender ? 1 : 0].values[k] : "");  // none or several: no single colour
    }
    for (size_t a = 0; a < names.size(); ++a) row.labels.push_back(v[a] ? names[a] : "not_" + names[a]);
    pub.rows.push_back(std::move(row));
  }
  return pub;
}

}  // namespace invdiff
