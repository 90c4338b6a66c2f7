#include "eval/image_folder.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/csv.h"
#include "core/fs.h"
#include "data/image_io.h"

namespace invdiff {

namespace {

bool is_png(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png";
}

std::string prompt_from_chunks(const std::string& path) {
  auto text = read_png_text(path);
  auto it = text.find("parameters");
  if (it != text.end()) {
    try {
      auto j = nlohmann::json::parse(it->second);
      if (j.is_object() && j.contains("prompt") && j["prompt"].is_string()) return j["prompt"].get<std::string>();
    } catch (const nlohmann::json::exception&) {
      // fall through to the error below: the chunk is not invdiff's JSON
    }
  }
  throw std::runtime_error(path + ": no prompt (no 'parameters' text chunk with a \"prompt\" key); pass --images-csv "
                           "with columns file,class_name");
}

}  // namespace

PromptedImages load_prompted_images(const std::string& dir, const std::string& csv, int channels) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw std::runtime_error("image folder not found: " + dir);
  PromptedImages out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_png(e.path())) out.files.push_back(e.path().filename().string());
  std::sort(out.files.begin(), out.files.end());
  if (out.files.empty()) throw std::runtime_error(dir + ": no PNG images found");

  // A row's file may be relative to the CSV's folder (a dataset's metadata.csv) or to DIR; both
  // resolve to an absolute path. The bare file name is a last resort, used only when unique.
  std::map<std::string, std::string> by_path, by_name;
  std::map<std::string, int> name_count;
  auto key = [](const fs::path& p) { return fs::absolute(p).lexically_normal().string(); };
  if (!csv.empty()) {
    auto t = read_csv(csv);
    size_t fc = t.column("file"), pc = t.column("class_name");
    fs::path csv_dir = fs::path(csv).parent_path();
    for (const auto& r : t.rows) {
      by_path[key(csv_dir / r[fc])] = r[pc];
      by_path[key(fs::path(dir) / r[fc])] = r[pc];
      std::string base = fs::path(r[fc]).filename().string();
      by_name[base] = r[pc];
      ++name_count[base];
    }
  }

  std::vector<at::Tensor> imgs;
  for (const auto& f : out.files) {
    std::string p = join_path(dir, f);
    if (csv.empty()) {
      out.prompts.push_back(prompt_from_chunks(p));
    } else {
      auto it = by_path.find(key(p));
      auto jt = by_name.find(f);
      if (it != by_path.end()) out.prompts.push_back(it->second);
      else if (jt != by_name.end() && name_count[f] == 1) out.prompts.push_back(jt->second);
      else throw std::runtime_error(csv + ": no row for image " + p + (name_count[f] > 1 ? " (its file name is ambiguous)" : ""));
    }
    auto img = read_image(p, channels);
    if (!imgs.empty() && img.sizes() != imgs.front().sizes())
      throw std::runtime_error(dir + ": images differ in size: " + out.files.front() + " is " +
                               std::to_string(imgs.front().size(1)) + "x" + std::to_string(imgs.front().size(2)) + ", " +
                               f + " is " + std::to_string(img.size(1)) + "x" + std::to_string(img.size(2)));
    imgs.push_back(img);
  }
  out.images = torch::stack(imgs);
  return out;
}

}  // namespace invdiff
