#include "invdiff/group_weights.h"

#include <stdexcept>

#include "core/fs.h"
#include "core/hash.h"
#include "invdiff/groups_io.h"

namespace invdiff {

GroupWeights load_group_weights(const GroupsSource& groups, const ImageDataset& data, bool hard, bool cross_class) {
  GroupWeights out;
  if (groups.is_none()) {
    if (hard || cross_class) throw std::invalid_argument("--hard-groups / --cross-class need --groups-dir");
    out.info = {{"mode", "none"}};
    return out;
  }
  auto table = read_groups(*groups.path);
  check_dataset_fingerprint(table.dataset, data, "the groups in " + table.source);
  out.W = align_groups(table, data.files);  // explicit join by row key; throws on any mismatch
  auto names = table.group_names;
  if (hard) out.W = harden_groups(out.W);
  if (cross_class) {
    const int64_t C = static_cast<int64_t>(data.class_names.size());
    out.W = cross_with_labels(out.W, data.labels, C);
    std::vector<std::string> crossed;
    for (const auto& c : data.class_names)
      for (const auto& n : names) crossed.push_back(c + "|" + n);
    names = crossed;
  }
  out.info = {{"mode", table.mode}, {"path", absolute_path(table.source)},
              {"fingerprint", file_fingerprint(table.source)}, {"num_groups", out.W.size(1)},
              {"group_names", names}, {"hard", hard}, {"cross_class", cross_class}};
  return out;
}

}  // namespace invdiff
