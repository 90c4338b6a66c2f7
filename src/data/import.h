// Importers of the paper's three benchmarks as published (Waterbirds, CelebA, FairFace) into the
// generic dataset layout (data/dataset.h): images/{train,val,ref}/NNNNNN.png at R x R (centre square,
// resized), metadata.csv (file, split, the target column, the attribute columns, minority,
// source) and manifest.json, written last. Each reader turns its published label files into a
// PublishedDataset; import_dataset draws the splits and writes them. docs/data.md says why the
// splits are drawn as they are.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"

namespace invdiff {

// One label column of a published dataset, with its values in class order.
struct LabelColumn {
  std::string name;
  std::vector<std::string> values;
};

// One published image: its file (relative to the published folder), the split it goes to
// ("train", "val", "ref", or "" for one the pipeline does not use) and one value per column ("" where
// the row has none, e.g. a CelebA face with no single hair colour; such a row is left out when
// that column is used).
struct PublishedRow {
  std::string file;
  std::string split;
  std::vector<std::string> labels;
};

struct PublishedDataset {
  std::string name;          // waterbirds, celeba, fairface
  std::string from;          // the published folder
  std::vector<LabelColumn> columns;
  std::vector<PublishedRow> rows;
  std::string default_target;
  std::vector<std::string> default_attributes;
  // The paper's biased training split over (default target x first default attribute), target
  // major; empty: the published training split as it is.
  std::vector<double> default_ratios;
  std::string splits;        // how the published splits map to train / ref (for the manifest)
  size_t column(const std::string& name) const;  // throws naming the dataset's columns
};

// Waterbirds (Sagawa et al.): metadata.csv (img_id, img_filename, y, split, place), images in
// species folders. Columns bird (landbird, waterbird; from y) and place (land, water); split 0
// -> train, 1 -> val (as published), 2 (the test split, place balanced within each bird) -> ref.
PublishedDataset read_waterbirds(const std::string& from);
// CelebA (aligned): img_align_celeba/, list_attr_celeba.txt (a count line, a header line of
// attribute names, then "file v1 v2 ..." with +1/-1 separated by runs of spaces) and
// list_eval_partition.txt ("file 0|1|2"). Columns gender (female, male; from Male), hair
// (black, blond, brown, gray: faces with exactly one of the four hair-colour attributes) and
// every published attribute A as not_A / A. Partition 0 -> train, 1 -> val, 2 -> ref.
PublishedDataset read_celeba(const std::string& from);
// FairFace: fairface_label_train.csv / fairface_label_val.csv (file, age, gender, race,
// service_test), files relative to the folder. Columns gender (female, male), race (the
// paper's 4 classes: white, black, asian = East Asian + Southeast Asian, indian; Latino_Hispanic
// and Middle Eastern faces have none), race7 (as published) and age. train -> train, val -> ref.
// Default: the paper's biased split, gender x race at 3:2:1:1 (female) : 1:1:2:3 (male).
PublishedDataset read_fairface(const std::string& from);
// The reader of `name` (waterbirds, celeba or fairface).
PublishedDataset read_published(const std::string& name, const std::string& from);

struct ImportOptions {
  int resolution = 64;
  std::string target;                          // "" : the dataset's default
  std::optional<std::vector<std::string>> attributes;  // unset: the dataset's default
  // Training-split cell ratios over (target values x first attribute's values), target major.
  // Unset: the dataset's default when target and attributes are the defaults, else none;
  // empty: none (the published training split as it is).
  std::optional<std::vector<double>> ratios;
  bool balanced_ref = true;  // ref: equal counts per (target, first attribute) cell
  int64_t max_train = -1;    // caps (-1: none); a ratio draw keeps its ratios under the cap
  int64_t max_ref = -1;
  // The published validation split (Waterbirds, CelebA; FairFace's is the ref split), written
  // as published for model selection that leaves ref untouched. 0: not written.
  int64_t max_val = -1;
  uint64_t seed = 0;         // which rows a draw keeps
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ImportOptions, resolution, target, attributes, ratios, balanced_ref,
                                                max_train, max_ref, max_val, seed)

// "3:2:1:1" -> {3, 2, 1, 1}; "none" -> {} (throws naming the bad part, without the flag's name:
// the CLI's validator prefixes it).
std::vector<double> parse_ratios(const std::string& text);

// Draws the splits, writes out_dir (images, metadata.csv, manifest.json last) and returns the
// manifest. Bad input (an unknown column, ratios of the wrong length, an empty cell the ratios
// need, a missing image) throws one line before anything is written; an unreadable image is
// found while writing (the manifest, written last, is then absent: the folder is incomplete).
nlohmann::json import_dataset(const PublishedDataset& pub, const ImportOptions& opt, const std::string& out_dir,
                              bool progress = true);

}  // namespace invdiff
