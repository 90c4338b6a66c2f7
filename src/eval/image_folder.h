// A folder of generated images to evaluate (`invdiff eval --images DIR`): every *.png directly
// in DIR, in name order, each with its prompt (class name) from a CSV (columns file,class_name)
// or from the PNG's "parameters" text chunk, a JSON object with a "prompt" key, which
// `invdiff sample --per-image` writes.
#pragma once
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace invdiff {

struct PromptedImages {
  std::vector<std::string> files;    // relative to the folder
  std::vector<std::string> prompts;  // one class name per image
  at::Tensor images;                 // [N, C, H, W] in [-1, 1]
};

// csv: "" to read prompts from the PNG text chunks. A CSV row's file is read relative to the
// CSV's folder or to DIR (so a dataset's own metadata.csv works), else matched by a unique base
// name. Errors name the folder or file at fault.
PromptedImages load_prompted_images(const std::string& dir, const std::string& csv = "", int channels = 3);

}  // namespace invdiff
