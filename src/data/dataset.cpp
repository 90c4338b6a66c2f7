#include "data/dataset.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <stdexcept>

#include "core/fs.h"
#include "core/hash.h"
#include "data/image_io.h"

namespace invdiff {

namespace {
nlohmann::json read_manifest(const std::string& dir) {
  std::string p = join_path(dir, "manifest.json");
  if (!file_exists(p)) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(read_text(p));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(p + ": invalid JSON (" + e.what() + ")");
  }
}

CsvTable read_metadata_csv(const std::string& dir) {
  if (!file_exists(dir)) throw std::runtime_error("dataset directory not found: " + dir);
  std::string p = join_path(dir, "metadata.csv");
  if (!file_exists(p)) throw std::runtime_error(dir + ": no metadata.csv (expected an image folder + metadata.csv)");
  return read_csv(p);
}

std::string resolve_target(const nlohmann::json& manifest, const std::string& requested) {
  if (!requested.empty()) return requested;
  if (manifest.contains("target_column")) return manifest["target_column"].get<std::string>();
  return "class";
}
}  // namespace

std::vector<std::string> dataset_class_names(const std::string& dir, const std::string& target_column) {
  auto manifest = read_manifest(dir);
  std::string target = resolve_target(manifest, target_column);
  if (manifest.contains("class_names") && target == manifest.value("target_column", std::string()))
    return manifest["class_names"].get<std::vector<std::string>>();
  auto meta = read_metadata_csv(dir);
  size_t col = meta.column(target);
  std::set<std::string> uniq;
  for (const auto& r : meta.rows) uniq.insert(r[col]);
  return {uniq.begin(), uniq.end()};
}

ImageDataset load_dataset(const std::string& dir, const DatasetOptions& opt) {
  auto manifest = read_manifest(dir);
  auto meta = read_metadata_csv(dir);
  ImageDataset ds;
  ds.root = dir;
  ds.split = opt.split;
  ds.target_column = resolve_target(manifest, opt.target_column);
  size_t file_col = meta.column("file");
  size_t target_col = meta.column(ds.target_column);
  bool has_split = meta.has_column("split") && !opt.split.empty();
  size_t split_col = has_split ? meta.column("split") : 0;
  ds.class_names = dataset_class_names(dir, ds.target_column);
  std::map<std::string, int64_t> class_index;
  for (size_t i = 0; i < ds.class_names.size(); ++i) class_index[ds.class_names[i]] = static_cast<int64_t>(i);

  std::vector<int64_t> labels;
  for (size_t i = 0; i < meta.rows.size(); ++i) {
    const auto& r = meta.rows[i];
    if (has_split && r[split_col] != opt.split) continue;
    if (opt.limit >= 0 && static_cast<int64_t>(ds.files.size()) >= opt.limit) break;
    auto it = class_index.find(r[target_col]);
    if (it == class_index.end())
      throw std::runtime_error(dir + "/metadata.csv: value '" + r[target_col] + "' of column '" + ds.target_column +
                               "' is not among the manifest's class_names");
    // Row numbers count the header as row 1, as a spreadsheet does (CsvTable::number's).
    const std::string why = path_escape_reason(dir, r[file_col]);
    if (!why.empty())
      throw std::runtime_error(dir + "/metadata.csv: row " + std::to_string(i + 2) + ": file '" + r[file_col] +
                               "' is outside the dataset directory (it " + why + "); files are paths inside " + dir);
    ds.files.push_back(r[file_col]);
    labels.push_back(it->second);
  }
  if (ds.files.empty())
    throw std::runtime_error(dir + ": no rows" + (has_split ? " in split '" + opt.split + "'" : std::string()));

  // One uint8 tensor allocated once: no per-image tensors to stack (which held every image twice).
  for (size_t i = 0; i < ds.files.size(); ++i) {
    const std::string& f = ds.files[i];
    std::string p = join_path(dir, f);
    if (!file_exists(p)) throw std::runtime_error(dir + ": image listed in metadata.csv is missing: " + f);
    auto img = read_image_u8(p, opt.channels);
    if (i == 0) {
      std::vector<int64_t> shape{static_cast<int64_t>(ds.files.size())};
      for (int64_t s : img.sizes()) shape.push_back(s);
      ds.images = torch::empty(shape, torch::kUInt8);
    } else if (img.sizes() != ds.images.sizes().slice(1)) {
      throw std::runtime_error(dir + ": images differ in size: " + ds.files.front() + " is " +
                               std::to_string(ds.images.size(2)) + "x" + std::to_string(ds.images.size(3)) + ", " + f +
                               " is " + std::to_string(img.size(1)) + "x" + std::to_string(img.size(2)));
    }
    ds.images[static_cast<int64_t>(i)].copy_(img);
  }
  ds.labels = torch::tensor(labels, torch::kInt64);
  return ds;
}

at::Tensor ImageDataset::batch(const at::Tensor& idx) const { return to_unit_range(images.index_select(0, idx)); }

nlohmann::json dataset_fingerprint(const ImageDataset& data) {
  uint64_t h = kFnvOffset;
  for (const auto& f : data.files) h = fnv1a(f.c_str(), f.size() + 1, h);  // with the NUL: keys stay apart
  for (const auto& c : data.class_names) h = fnv1a(c.c_str(), c.size() + 1, h);
  if (data.images.defined()) {
    // The hash of the [-1, 1] floats, as recorded before images were kept as uint8 (FNV runs
    // byte by byte, so chunks give the whole tensor's hash), a chunk at a time: converting the
    // whole set at once would need four times its memory again.
    const int64_t n = data.images.size(0), chunk = 1024;
    for (int64_t s = 0; s < n; s += chunk) {
      auto img = to_unit_range(data.images.slice(0, s, std::min(n, s + chunk)).cpu()).to(torch::kFloat32).contiguous();
      h = fnv1a(img.data_ptr(), static_cast<size_t>(img.numel()) * sizeof(float), h);
    }
  }
  if (data.labels.defined()) {
    auto lab = data.labels.to(torch::kCPU, torch::kInt64).contiguous();
    h = fnv1a(lab.data_ptr(), static_cast<size_t>(lab.numel()) * sizeof(int64_t), h);
  }
  return {{"root", absolute_path(data.root)}, {"split", data.split}, {"target_column", data.target_column},
          {"size", data.size()}, {"class_names", data.class_names}, {"content", hex64(h)}};
}

namespace {
std::string describe_fingerprint(const nlohmann::json& fp) {
  std::string s = fp.value("root", std::string("?")) + " (split '" + fp.value("split", std::string()) + "', target '" +
                  fp.value("target_column", std::string()) + "', " + std::to_string(fp.value("size", int64_t(0))) +
                  " rows, content " + fp.value("content", std::string("?")) + ")";
  return s;
}
}  // namespace

void check_dataset_fingerprint(const nlohmann::json& recorded, const ImageDataset& data, const std::string& what) {
  if (!recorded.is_object() || !recorded.contains("content")) return;
  auto now = dataset_fingerprint(data);
  if (recorded["content"] == now["content"]) return;
  throw std::runtime_error(what + ": made from " + describe_fingerprint(recorded) + ", but the dataset here is " +
                           describe_fingerprint(now));
}

void check_class_names(const std::vector<std::string>& names, const std::string& whose, const ImageDataset& data,
                       const std::string& what) {
  if (names == data.class_names) return;
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  throw std::runtime_error(what + ": " + whose + " has classes " + list(names) + " but the dataset " + data.root +
                           " ('" + data.target_column + "') has " + list(data.class_names) +
                           " (the same names in the same order are needed)");
}

CsvTable load_metadata(const std::string& dir, const std::string& split) {
  auto meta = read_metadata_csv(dir);
  if (split.empty() || !meta.has_column("split")) return meta;
  size_t sc = meta.column("split");
  CsvTable out;
  out.header = meta.header;
  out.source = meta.source;
  for (auto& r : meta.rows)
    if (r[sc] == split) out.rows.push_back(std::move(r));
  return out;
}

BatchSampler::BatchSampler(int64_t n, int64_t batch_size, uint64_t seed)
    : n_(n), batch_(batch_size), seed_(seed) {
  if (n <= 0) throw std::invalid_argument("BatchSampler: empty dataset");
  if (batch_size <= 0) throw std::invalid_argument("BatchSampler: batch size must be positive");
  // A batch larger than the dataset draws from one permutation repeated (wrapping).
  steps_per_epoch_ = std::max<int64_t>(1, n / batch_size);
}

std::vector<int64_t> BatchSampler::batch(int64_t step) const {
  int64_t epoch = step / steps_per_epoch_;
  int64_t within = step % steps_per_epoch_;
  if (epoch != cached_epoch_) {
    std::mt19937_64 g(seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) * 0xBF58476D1CE4E5B9ull + 7);
    perm_.resize(n_);
    for (int64_t i = 0; i < n_; ++i) perm_[i] = i;
    for (int64_t i = n_; i > 1; --i) std::swap(perm_[i - 1], perm_[g() % i]);
    cached_epoch_ = epoch;
  }
  std::vector<int64_t> out(batch_);
  for (int64_t j = 0; j < batch_; ++j) out[j] = perm_[(within * batch_ + j) % n_];
  return out;
}

at::Tensor BatchSampler::batch_tensor(int64_t step) const { return torch::tensor(batch(step), torch::kInt64); }

}  // namespace invdiff
