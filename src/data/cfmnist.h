// Colored Fashion-MNIST ("cfmnist"), the embedded benchmark (README, docs/evaluation.md): real garments,
// a controlled class-colour correlation, and an exact colour oracle.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/appearance.h"
#include "data/palette.h"

namespace at { class Tensor; }

namespace invdiff {

const std::vector<std::string>& fashion_mnist_class_names();
// Accepts a class index ("7") or a name, case-insensitively ("sneaker").
int parse_fashion_class(const std::string& s);

struct CfmnistConfig {
  std::vector<int> classes{0, 1, 7, 8};
  std::vector<Colour> palette;  // empty: the first K colours of default_palette()
  // The biased attributes (data/appearance.h), each with K values, drawn independently per image:
  // the majority value (class mod K) with probability rho, else one of the others. rho = 1 / K
  // is the unbiased control. Colour alone is the original benchmark.
  std::vector<AppearanceKind> attributes{AppearanceKind::Colour};
  int K = 2;
  double rho = 0.9;             // share of a class drawn in its majority value (c mod K)
  int resolution = 16;          // 16 (pad to 32, 2x2 average pool), 28 (as is) or 32 (pad)
  uint64_t seed = 0;
  std::string source_dir = "/usr/share/datasets/fashion-mnist";
  int64_t max_train_per_class = -1;  // -1: all (6000 per class)
  int64_t max_ref_per_class = -1;    // -1: all (1000 per class)
  std::vector<Colour> resolved_palette() const;
};

// [N, 28, 28] uint8 grey + colour index per image -> [N, 3, R, R] float in [-1, 1].
at::Tensor colourise(const at::Tensor& grey, const std::vector<int64_t>& colour,
                     const std::vector<Colour>& palette, int resolution);

// Draws each training image's colour: majority (class mod K) with probability rho, else one of
// the others uniformly. Deterministic for a seed.
std::vector<int64_t> draw_biased_colours(const std::vector<int64_t>& labels, int K, double rho, uint64_t seed);
// Exactly balanced colours per class (a seeded round-robin over a shuffled order).
std::vector<int64_t> draw_balanced_colours(const std::vector<int64_t>& labels, int K, uint64_t seed);

// Writes OUT/images/{train,ref}/NNNNNN.png, OUT/metadata.csv and OUT/manifest.json.
// The manifest is written last, so its presence marks a complete dataset.
void build_cfmnist(const CfmnistConfig& cfg, const std::string& out_dir, bool progress = true);

}  // namespace invdiff
