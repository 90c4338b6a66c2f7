// The appearance attributes the benchmark suite can bias (issue 15): what each value does to a
// 28 x 28 Fashion-MNIST garment. Colour is the original benchmark's; the others change the
// garment without changing its hue, each of a different nature (intensity, geometry, texture,
// frequency content, shape), so that a max step tuned on colour is tested on what it was not
// built for. Every value is a deterministic function of the grey image: the rendered set has an
// exact ground truth, and an attribute classifier trained on the balanced reference split is
// the evaluation's oracle for the kinds without a hand-made one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "data/palette.h"

namespace at { class Tensor; }

namespace invdiff {

enum class AppearanceKind { Colour, Brightness, Scale, Position, Background, Blur, Stroke };
INVDIFF_JSON_ENUM(AppearanceKind, "attribute",
                  {{AppearanceKind::Colour, "colour"}, {AppearanceKind::Brightness, "brightness"},
                   {AppearanceKind::Scale, "scale"}, {AppearanceKind::Position, "position"},
                   {AppearanceKind::Background, "background"}, {AppearanceKind::Blur, "blur"},
                   {AppearanceKind::Stroke, "stroke"}})

// The most values an attribute takes (the palette's six colours; the others are built to K <= 6).
constexpr int kMaxAttributeValues = 6;

// The names of an attribute's K values (colour: the palette's names), e.g. "bright", "dim".
std::vector<std::string> appearance_value_names(AppearanceKind kind, int K, const std::vector<Colour>& palette);

// The value names of each attribute in `kinds` (appearance_value_names), after checking the list:
// K in range for every kind, no kind given twice. What render_appearance and the cfmnist builder
// both check, so a bad list fails before any image is read.
std::vector<std::vector<std::string>> appearance_value_table(const std::vector<AppearanceKind>& kinds, int K,
                                                             const std::vector<Colour>& palette);

// Renders grey garments [N, 28, 28] uint8 with, per attribute a, the value values[a][i] of image i
// -> [N, 3, 28, 28] float in [0, 1]. Garments are white unless colour is an attribute. Order:
// geometry (scale, position), stroke, blur, then intensity (brightness, colour), then the
// background behind the garment.
at::Tensor render_appearance(const at::Tensor& grey, const std::vector<AppearanceKind>& kinds,
                             const std::vector<std::vector<int64_t>>& values, int K,
                             const std::vector<Colour>& palette);

}  // namespace invdiff
