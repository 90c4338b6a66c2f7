// Group assignments on disk and their explicit join to dataset rows (a groups file is never
// matched to the dataset by row order: docs/method.md). groups.csv holds one row per sample:
//   file (the metadata's row key), group (argmax), w_0 .. w_{G-1}
// and summary.json beside it names the groups. Every consumer joins by `file`, never by order.
#pragma once
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>

#include "core/csv.h"

namespace invdiff {

struct GroupTable {
  std::vector<std::string> files;        // row keys
  at::Tensor W;                          // [N, G] float64, rows on the simplex
  std::vector<std::string> group_names;  // G names ("g0".. for inferred groups)
  std::string source;                    // file it came from, for messages
  std::string mode = "inferred";         // summary.json's: inferred or oracle
  nlohmann::json dataset;                // summary.json's dataset fingerprint (null when absent)
  int64_t num_groups() const { return W.defined() ? W.size(1) : 0; }
};

void write_groups_csv(const std::string& path, const GroupTable& g);
// Reads DIR/groups.csv (or the file itself); names from DIR/summary.json when present.
GroupTable read_groups(const std::string& dir_or_file);
// The groups.csv path for a directory or file argument.
std::string groups_csv_path(const std::string& dir_or_file);

// Rows of g.W reordered to `files` ([files.size(), G]). Throws one line when a dataset row has
// no group row or a group row matches no dataset row (naming the first offender and the count).
at::Tensor align_groups(const GroupTable& g, const std::vector<std::string>& files);

// One-hot groups from true label columns of the metadata (joined by `file`), for upper-bound
// comparisons. Group names are the column values joined by '|', in sorted order.
GroupTable oracle_groups(const CsvTable& meta, const std::vector<std::string>& files,
                         const std::vector<std::string>& columns);

// One-hot of each row's argmax (hard groups).
at::Tensor harden_groups(const at::Tensor& W);
// Crosses groups with the condition: column c * G + g holds W_ig where label_i == c, else 0.
at::Tensor cross_with_labels(const at::Tensor& W, const at::Tensor& labels, int64_t num_labels);

}  // namespace invdiff
