// Tiny synthetic folders in exactly the published layouts of the paper's three benchmarks
// (Waterbirds, CelebA, FairFace), for the importer tests: the label files byte-for-byte in the
// published formats, images as real JPEGs of varied sizes (wider and taller than square, so the
// centre crop matters). Each writer takes the number of images per labelled cell, so a test
// knows the counts an import must produce.
#pragma once
#include <array>
#include <string>
#include <vector>

namespace published {

// A JPEG of w x h pixels, one colour (r, g, b) with a 1-pixel border of another (the centre
// square of a non-square image then has no border on two sides).
void write_jpg(const std::string& path, int w, int h, int r, int g, int b);

// Waterbirds: dir/metadata.csv (img_id,img_filename,y,split,place) and images in species
// folders. count[split][y][place] images per cell (split 0 train, 1 val, 2 test).
using WaterbirdsCounts = std::array<std::array<std::array<int, 2>, 2>, 3>;
void write_waterbirds(const std::string& dir, const WaterbirdsCounts& count);

// CelebA: dir/img_align_celeba/NNNNNN.jpg, list_attr_celeba.txt (count line, header of the 40
// published attribute names, then "file" and +1/-1 values padded as published: " 1" -> "  1")
// and list_eval_partition.txt. count[partition][male][hair] faces per cell, hair 0-3 = black,
// blond, brown, gray (exactly that one hair flag set); plus no_hair[partition] faces with none.
using CelebaCounts = std::array<std::array<std::array<int, 4>, 2>, 3>;
void write_celeba(const std::string& dir, const CelebaCounts& count, const std::array<int, 3>& no_hair);
const std::vector<std::string>& celeba_attribute_names();

// FairFace: dir/fairface_label_{train,val}.csv (file,age,gender,race,service_test) and
// dir/{train,val}/N.jpg. count[0 train | 1 val][0 Female | 1 Male][race7] faces, race7 in
// published order: White, Black, Latino_Hispanic, East Asian, Southeast Asian, Indian, Middle Eastern.
using FairfaceCounts = std::array<std::array<std::array<int, 7>, 2>, 2>;
void write_fairface(const std::string& dir, const FairfaceCounts& count);

}  // namespace published
