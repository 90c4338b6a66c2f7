// FairFace as published: fairface_label_train.csv and fairface_label_val.csv (file, age, gender,
// race, service_test), the files relative to the folder (train/1.jpg, val/1.jpg).
#include <algorithm>
#include <stdexcept>

#include "core/csv.h"
#include "core/fs.h"
#include "data/import.h"
#include "data/import_util.h"

namespace invdiff {

namespace {
const std::vector<std::string> kRace7{"White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian",
                                      "Middle Eastern"};
const std::vector<std::string> kAge{"0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"};

// The paper's four race classes. East and Southeast Asian faces are one class; Latino_Hispanic
// and Middle Eastern faces get none (they are left out wherever `race` is used) rather than
// being merged into a class they would blur, which would leave the attribute classifier that
// judges Bias unable to separate its classes (docs/data.md).
std::string race4(const std::string& r7) {
  if (r7 == "White") return "white";
  if (r7 == "Black") return "black";
  if (r7 == "East Asian" || r7 == "Southeast Asian") return "asian";
  if (r7 == "Indian") return "indian";
  return "";
}

const std::string& checked(const CsvTable& t, size_t row, size_t col, const std::vector<std::string>& allowed) {
  const std::string& v = t.rows[row][col];
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return v;
  std::string all;
  for (const auto& a : allowed) all += (all.empty() ? "" : ", ") + a;
  throw std::runtime_error(t.source + ": row " + std::to_string(row + 2) + ", column '" + t.header[col] + "': '" + v +
                           "' is not one of " + all);
}
}  // namespace

PublishedDataset read_fairface(const std::string& from) {
  PublishedDataset pub;
  pub.name = "fairface";
  pub.from = from;
  pub.columns = {{"gender", {"female", "male"}}, {"race", {"white", "black", "asian", "indian"}}, {"race7", kRace7},
                 {"age", kAge}};
  pub.default_target = "gender";
  pub.default_attributes = {"race"};
  // The paper's biased split: female white:black:asian:indian 3:2:1:1, male 1:1:2:3.
  pub.default_ratios = {3, 2, 1, 1, 1, 1, 2, 3};
  pub.splits = "fairface_label_train.csv -> train, fairface_label_val.csv -> ref";
  for (const auto& [file, split] : {std::pair<std::string, std::string>{"fairface_label_train.csv", "train"},
                                    {"fairface_label_val.csv", "ref"}}) {
    const CsvTable t = read_csv(join_path(from, file));
    const size_t fc = t.column("file"), gc = t.column("gender"), rc = t.column("race"), ac = t.column("age");
    for (size_t i = 0; i < t.rows.size(); ++i) {
      check_inside(from, t.rows[i][fc], t.source, i + 2);
      const std::string gender = checked(t, i, gc, {"Female", "Male"}) == "Male" ? "male" : "female";
      const std::string& r7 = checked(t, i, rc, kRace7);
      pub.rows.push_back({t.rows[i][fc], split, {gender, race4(r7), r7, checked(t, i, ac, kAge)}});
    }
  }
  return pub;
}

}  // namespace invdiff
