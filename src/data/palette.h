// The benchmark's colour palette: named RGB colours, and the palette a dataset's manifest
// records. Data (cfmnist builds with it) and evaluation (the colour oracle reads it) share it.
#pragma once
#include <string>
#include <vector>

namespace invdiff {

struct Colour {
  std::string name;
  float r, g, b;
};

// red, green, blue, yellow, magenta, cyan: the first K are the benchmark's default palette.
const std::vector<Colour>& default_palette();

// The palette a dataset directory's manifest.json records (cfmnist writes one); empty when the
// directory has no manifest or no palette, i.e. the dataset has no colour oracle.
std::vector<Colour> manifest_palette(const std::string& dataset_dir);

}  // namespace invdiff
