#include "data/cfmnist.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "core/csv.h"
#include "core/fs.h"
#include "core/progress.h"
#include "data/idx.h"
#include "data/image_io.h"

namespace invdiff {

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> n = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return n;
}

static std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int parse_fashion_class(const std::string& s) {
  const auto& names = fashion_mnist_class_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (lower(names[i]) == lower(s) || std::to_string(i) == s) return static_cast<int>(i);
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown Fashion-MNIST class '" + s + "' (one of: " + all + ", or 0-9)");
}

std::vector<Colour> CfmnistConfig::resolved_palette() const {
  if (!palette.empty()) return palette;
  const auto& d = default_palette();
  if (K < 2 || K > static_cast<int>(d.size()))
    throw std::invalid_argument("cfmnist: K must be between 2 and " + std::to_string(d.size()));
  return {d.begin(), d.begin() + K};
}

// 53 random bits -> [0, 1): identical on every platform, unlike std::uniform_real_distribution.
static double uniform01(std::mt19937_64& g) { return static_cast<double>(g() >> 11) * 0x1.0p-53; }

std::vector<int64_t> draw_biased_colours(const std::vector<int64_t>& labels, int K, double rho, uint64_t seed) {
  if (rho < 0 || rho > 1) throw std::invalid_argument("cfmnist: rho must be in [0, 1]");
  std::mt19937_64 g(seed * 0x9E3779B97F4A7C15ull + 1);
  std::vector<int64_t> out(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    int64_t major = labels[i] % K;
    double u = uniform01(g);
    if (u < rho) {
      out[i] = major;
    } else {
      int64_t k = std::min<int64_t>(K - 2, static_cast<int64_t>((u - rho) / (1 - rho) * (K - 1)));
      out[i] = k >= major ? k + 1 : k;  // one of the K-1 others, uniformly
    }
  }
  return out;
}

std::vector<int64_t> draw_balanced_colours(const std::vector<int64_t>& labels, int K, uint64_t seed) {
  std::mt19937_64 g(seed * 0x9E3779B97F4A7C15ull + 2);
  std::vector<size_t> order(labels.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[g() % i]);
  std::vector<int64_t> out(labels.size());
  std::map<int64_t, int64_t> seen;
  for (size_t i : order) out[i] = seen[labels[i]]++ % K;
  return out;
}

// 28 x 28 [0, 1] images -> the dataset's resolution, in [-1, 1].
static at::Tensor to_resolution(at::Tensor img, int resolution) {
  namespace F = torch::nn::functional;
  if (resolution == 16) {
    img = F::avg_pool2d(F::pad(img, F::PadFuncOptions({2, 2, 2, 2})), F::AvgPool2dFuncOptions(2));
  } else if (resolution == 32) {
    img = F::pad(img, F::PadFuncOptions({2, 2, 2, 2}));
  } else if (resolution != 28) {
    throw std::invalid_argument("cfmnist: resolution must be 16, 28 or 32, got " + std::to_string(resolution));
  }
  return img.mul(2).sub(1).contiguous();
}

at::Tensor colourise(const at::Tensor& grey, const std::vector<int64_t>& colour,
                     const std::vector<Colour>& palette, int resolution) {
  TORCH_CHECK(grey.dim() == 3 && grey.size(1) == 28 && grey.size(2) == 28, "colourise expects [N, 28, 28]");
  TORCH_CHECK(static_cast<int64_t>(colour.size()) == grey.size(0), "one colour per image");
  return to_resolution(render_appearance(grey, {AppearanceKind::Colour}, {colour}, static_cast<int>(palette.size()), palette),
                       resolution);
}

namespace {
struct Split {
  std::string name;
  std::vector<int64_t> index;   // rows of the source IDX arrays
  std::vector<int64_t> labels;
  std::vector<std::vector<int64_t>> values;  // per attribute, per image
};

Split select(const IdxArray& labels, const std::vector<int>& classes, int64_t max_per_class, const std::string& name) {
  Split s{name, {}, {}, {}};
  std::map<int, int64_t> count;
  for (size_t i = 0; i < labels.data.size(); ++i) {
    int c = labels.data[i];
    if (std::find(classes.begin(), classes.end(), c) == classes.end()) continue;
    if (max_per_class >= 0 && count[c] >= max_per_class) continue;
    ++count[c];
    s.index.push_back(static_cast<int64_t>(i));
    s.labels.push_back(c);
  }
  return s;
}
}  // namespace

void build_cfmnist(const CfmnistConfig& cfg, const std::string& out_dir, bool progress) {
  auto palette = cfg.resolved_palette();
  const bool has_colour =
      std::find(cfg.attributes.begin(), cfg.attributes.end(), AppearanceKind::Colour) != cfg.attributes.end();
  const int K = has_colour ? static_cast<int>(palette.size()) : cfg.K;
  if (cfg.attributes.empty()) throw std::invalid_argument("cfmnist: no attribute given");
  const auto value_names = appearance_value_table(cfg.attributes, K, palette);  // checks K and repeats
  if (cfg.classes.empty()) throw std::invalid_argument("cfmnist: no classes given");
  for (int c : cfg.classes)
    if (c < 0 || c > 9) throw std::invalid_argument("cfmnist: class index out of range 0-9: " + std::to_string(c));
  if (cfg.resolution != 16 && cfg.resolution != 28 && cfg.resolution != 32)
    throw std::invalid_argument("cfmnist: resolution must be 16, 28 or 32, got " + std::to_string(cfg.resolution));
  auto src = [&](const std::string& f) {
    std::string p = join_path(cfg.source_dir, f);
    if (!file_exists(p))
      throw std::runtime_error("Fashion-MNIST file not found: " + p +
                               " (install Debian's dataset-fashion-mnist: scripts/setup.sh)");
    return p;
  };
  IdxArray train_x = read_idx(src("train-images-idx3-ubyte.gz"));
  IdxArray train_y = read_idx(src("train-labels-idx1-ubyte.gz"));
  IdxArray test_x = read_idx(src("t10k-images-idx3-ubyte.gz"));
  IdxArray test_y = read_idx(src("t10k-labels-idx1-ubyte.gz"));
  for (auto* x : {&train_x, &test_x})
    if (x->shape.size() != 3 || x->shape[1] != 28 || x->shape[2] != 28)
      throw std::runtime_error("Fashion-MNIST images must be [N, 28, 28]");

  Split train = select(train_y, cfg.classes, cfg.max_train_per_class, "train");
  Split ref = select(test_y, cfg.classes, cfg.max_ref_per_class, "ref");
  // Attribute a draws from its own seed (attribute 0 keeps the single-attribute benchmark's).
  for (size_t a = 0; a < cfg.attributes.size(); ++a) {
    const uint64_t seed = cfg.seed + 7919 * a;
    train.values.push_back(draw_biased_colours(train.labels, K, cfg.rho, seed));
    ref.values.push_back(draw_balanced_colours(ref.labels, K, seed));
  }
  // Columns: colour keeps the benchmark's names (colour, colour_name); the others <kind>, <kind>_name.
  std::vector<std::string> attr_columns;
  for (auto kind : cfg.attributes) attr_columns.push_back(enum_name(kind));

  ensure_dir(out_dir);
  // A rebuild must not leave a stale manifest claiming completeness.
  std::filesystem::remove(join_path(out_dir, "manifest.json"));
  CsvTable meta;
  meta.header = {"file", "split", "class", "class_name"};
  for (const auto& c : attr_columns) meta.header.insert(meta.header.end(), {c, c + "_name"});
  meta.header.push_back("minority");
  const auto& names = fashion_mnist_class_names();
  nlohmann::json counts, majority_share;
  for (const Split* s : {&train, &ref}) {
    const IdxArray& x = s->name == "train" ? train_x : test_x;
    std::string sub = "images/" + s->name;
    ensure_dir(join_path(out_dir, sub));
    ProgressBar bar("cfmnist " + s->name, static_cast<int64_t>(s->index.size()), 0, progress);
    const int64_t chunk = 1024;
    std::map<int64_t, std::pair<int64_t, int64_t>> major_count;  // class -> (majority in every attribute, total)
    for (int64_t start = 0; start < static_cast<int64_t>(s->index.size()); start += chunk) {
      int64_t n = std::min<int64_t>(chunk, s->index.size() - start);
      auto grey = torch::empty({n, 28, 28}, torch::kUInt8);
      for (int64_t j = 0; j < n; ++j)
        std::memcpy(grey[j].data_ptr<uint8_t>(), &x.data[s->index[start + j] * 784], 784);
      std::vector<std::vector<int64_t>> vals;
      for (const auto& v : s->values) vals.emplace_back(v.begin() + start, v.begin() + start + n);
      auto imgs = to_resolution(render_appearance(grey, cfg.attributes, vals, K, palette), cfg.resolution);
      for (int64_t j = 0; j < n; ++j) {
        int64_t i = start + j;
        char fname[32];
        std::snprintf(fname, sizeof fname, "%06ld.png", static_cast<long>(i));
        std::string rel = sub + "/" + fname;
        write_png(join_path(out_dir, rel), imgs[j]);
        int64_t c = s->labels[i];
        std::vector<std::string> row{rel, s->name, std::to_string(c), names[c]};
        bool minority = false;
        for (size_t a = 0; a < cfg.attributes.size(); ++a) {
          int64_t k = s->values[a][i];
          minority = minority || k != c % K;
          row.insert(row.end(), {std::to_string(k), value_names[a][k]});
        }
        row.push_back(minority ? "1" : "0");
        auto& mc = major_count[c];
        mc.first += !minority;
        mc.second += 1;
        meta.rows.push_back(std::move(row));
      }
      bar.update(start + n);
    }
    bar.finish();
    counts[s->name] = s->index.size();
    for (auto& [c, mc] : major_count) majority_share[s->name][names[c]] = double(mc.first) / mc.second;
  }
  write_csv(join_path(out_dir, "metadata.csv"), meta);

  nlohmann::json m;
  m["name"] = "cfmnist";
  m["target_column"] = "class_name";
  nlohmann::json cols = nlohmann::json::array(), attrs = nlohmann::json::array();
  for (size_t a = 0; a < cfg.attributes.size(); ++a) {
    cols.push_back(attr_columns[a]);
    cols.push_back(attr_columns[a] + "_name");
    attrs.push_back({{"kind", cfg.attributes[a]}, {"column", attr_columns[a] + "_name"}, {"values", value_names[a]}});
  }
  cols.push_back("minority");
  m["attribute_columns"] = cols;
  m["attributes"] = attrs;
  std::vector<std::string> class_names;
  for (int c : cfg.classes) class_names.push_back(names[c]);
  m["class_names"] = class_names;
  m["classes"] = cfg.classes;
  if (has_colour) {  // the colour oracle's palette: only where colour is an attribute
    nlohmann::json pal = nlohmann::json::array();
    for (const auto& c : palette) pal.push_back({{"name", c.name}, {"rgb", {c.r, c.g, c.b}}});
    m["palette"] = pal;
  }
  m["K"] = K;
  m["rho"] = cfg.rho;
  m["resolution"] = cfg.resolution;
  m["seed"] = cfg.seed;
  m["counts"] = counts;
  m["majority_share"] = majority_share;
  m["majority_rule"] = "class mod K";
  atomic_write_text(join_path(out_dir, "manifest.json"), m.dump(2) + "\n");
}

}  // namespace invdiff
