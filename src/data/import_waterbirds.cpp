// Waterbirds as published (Sagawa et al., 2020): metadata.csv with img_id, img_filename, y
// (0 landbird, 1 waterbird), split (0 train, 1 val, 2 test) and place (0 land, 1 water).
#include <stdexcept>

#include "core/csv.h"
#include "core/fs.h"
#include "data/import.h"
#include "data/import_util.h"

namespace invdiff {

PublishedDataset read_waterbirds(const std::string& from) {
  const CsvTable t = read_csv(join_path(from, "metadata.csv"));
  const size_t fc = t.column("img_filename"), yc = t.column("y"), sc = t.column("split"), pc = t.column("place");
  PublishedDataset pub;
  pub.name = "waterbirds";
  pub.from = from;
  pub.columns = {{"bird", {"landbird", "waterbird"}}, {"place", {"land", "water"}}};
  pub.default_target = "bird";
  pub.default_attributes = {"place"};
  pub.splits = "published split 0 -> train, 1 -> val (as published), 2 (test: place balanced within each bird) -> ref";
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    const int y = published_code(t, i, yc, 1), s = published_code(t, i, sc, 2), p = published_code(t, i, pc, 1);
    check_inside(from, r[fc], t.source, i + 2);
    pub.rows.push_back({r[fc], s == 0 ? "train" : s == 1 ? "val" : "ref", {pub.columns[0].values[y], pub.columns[1].values[p]}});
  }
  return pub;
}

}  // namespace invdiff
