#include "core/safetensors.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "core/fs.h"

namespace invdiff {

namespace {

struct DType {
  const char* name;
  at::ScalarType type;
  int64_t size;
};
const std::vector<DType>& dtypes() {
  static const std::vector<DType> t{{"F64", at::kDouble, 8}, {"F32", at::kFloat, 4},  {"F16", at::kHalf, 2},
                                    {"BF16", at::kBFloat16, 2}, {"I64", at::kLong, 8}, {"I32", at::kInt, 4},
                                    {"I16", at::kShort, 2},    {"I8", at::kChar, 1},   {"U8", at::kByte, 1},
                                    {"BOOL", at::kBool, 1}};
  return t;
}

bool little_endian() {
  const uint16_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// Parses the header JSON, refusing repeated names and nesting deeper than the format has.
nlohmann::json parse_header(const std::string& path, const std::string& text) {
  std::vector<std::set<std::string>> keys;  // one per open object (arrays: an empty placeholder)
  std::string problem;
  auto cb = [&](int /*depth*/, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (!problem.empty()) return false;
    if (ev == E::object_start || ev == E::array_start) {
      keys.emplace_back();
      if (keys.size() > 3) problem = "header nests deeper than a safetensors header does";
    } else if (ev == E::object_end || ev == E::array_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == E::key) {
      const std::string k = parsed.get<std::string>();
      if (!keys.empty() && !keys.back().insert(k).second) problem = "header repeats the name '" + k + "'";
    }
    return problem.empty();
  };
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(text, cb);
  } catch (const nlohmann::json::exception&) {
    if (problem.empty()) fail(path, "the safetensors header is not valid JSON (truncated or not a safetensors file)");
  }
  if (!problem.empty()) fail(path, problem);
  if (!h.is_object()) fail(path, "the safetensors header is not a JSON object");
  return h;
}

uint64_t as_u64(const std::string& path, const std::string& name, const nlohmann::json& v, const char* what) {
  if (!v.is_number_unsigned()) fail(path, "tensor '" + name + "': " + what + " must be non-negative integers");
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v, uint64_t data_size) {
  if (!v.is_object()) fail(path, "tensor '" + name + "': its header entry is not an object");
  for (const auto& [k, _] : v.items())
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      fail(path, "tensor '" + name + "': unknown header field '" + k + "'");
  if (!v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
    fail(path, "tensor '" + name + "': needs dtype, shape and data_offsets");
  Entry e;
  e.name = name;
  const auto& dt = v["dtype"];
  std::string dn = dt.is_string() ? dt.get<std::string>() : dt.dump();
  auto it = std::find_if(dtypes().begin(), dtypes().end(), [&](const DType& d) { return dn == d.name; });
  if (it == dtypes().end()) fail(path, "tensor '" + name + "': unsupported dtype " + dn);
  e.dtype = *it;
  if (!v["shape"].is_array() || v["shape"].size() > 8) fail(path, "tensor '" + name + "': shape must be a list of at most 8 sizes");
  // numel * size must fit the data section: checked with overflow guards before anything is allocated.
  uint64_t bytes = static_cast<uint64_t>(e.dtype.size);
  for (const auto& d : v["shape"]) {
    uint64_t n = as_u64(path, name, d, "shape sizes");
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(path, "tensor '" + name + "': a shape size is too large");
    if (n != 0 && bytes > std::numeric_limits<uint64_t>::max() / n) bytes = std::numeric_limits<uint64_t>::max();
    else bytes *= n;
    e.shape.push_back(static_cast<int64_t>(n));
  }
  const auto& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2) fail(path, "tensor '" + name + "': data_offsets must be [begin, end]");
  e.begin = as_u64(path, name, off[0], "data_offsets");
  e.end = as_u64(path, name, off[1], "data_offsets");
  if (e.begin > e.end) fail(path, "tensor '" + name + "': data_offsets begin after they end");
  if (e.end > data_size)
    fail(path, "tensor '" + name + "': data_offsets end at " + std::to_string(e.end) + ", past the data (" +
                   std::to_string(data_size) + " bytes; truncated file?)");
  if (e.end - e.begin != bytes)
    fail(path, "tensor '" + name + "': " + std::to_string(e.end - e.begin) + " bytes for a " + e.dtype.name +
                   " tensor of shape " + v["shape"].dump() + " (expected " + std::to_string(bytes) + ")");
  return e;
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  if (!little_endian()) fail(path, "safetensors reading needs a little-endian machine");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory, not a safetensors file");
  const auto fsize = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot read (" + ec.message() + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open");
  if (fsize < 8) fail(path, "too short for a safetensors file (" + std::to_string(fsize) + " bytes)");
  unsigned char lenb[8];
  in.read(reinterpret_cast<char*>(lenb), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | lenb[i];
  if (n > kMaxSafetensorsHeader)
    fail(path, "safetensors header of " + std::to_string(n) + " bytes exceeds the limit of " +
                   std::to_string(kMaxSafetensorsHeader));
  if (n > fsize - 8)
    fail(path, "safetensors header of " + std::to_string(n) + " bytes runs past the end of the file (" +
                   std::to_string(fsize) + " bytes; truncated?)");
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) fail(path, "cannot read the safetensors header");
  const uint64_t data_size = fsize - 8 - n;
  nlohmann::json h = parse_header(path, text);

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [k, v] : h.items()) {
    if (k == "__metadata__") {
      if (!v.is_object()) fail(path, "__metadata__ must be an object of strings");
      for (const auto& [mk, mv] : v.items()) {
        if (!mv.is_string()) fail(path, "__metadata__ '" + mk + "' is not a string");
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    if (k.empty()) fail(path, "a tensor has an empty name");
    entries.push_back(parse_entry(path, k, v, data_size));
  }
  // The tensors must tile the data section: sorted by offset, each begins where the last ended.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  for (const auto& e : entries) {
    if (e.begin < pos) fail(path, "tensor '" + e.name + "' overlaps the tensor before it in the data");
    if (e.begin > pos)
      fail(path, "a hole of " + std::to_string(e.begin - pos) + " unused bytes before tensor '" + e.name + "'");
    pos = e.end;
  }
  if (pos != data_size)
    fail(path, std::to_string(data_size - pos) + " bytes after the last tensor belong to no tensor");

  for (const auto& e : entries) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype.type));
    in.seekg(static_cast<std::streamoff>(8 + n + e.begin));
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
    if (!in) fail(path, "cannot read the data of tensor '" + e.name + "'");
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors_in,
                       const std::map<std::string, std::string>& metadata) {
  if (!little_endian()) throw std::runtime_error(path + ": safetensors writing needs a little-endian machine");
  std::vector<std::pair<std::string, at::Tensor>> tensors = tensors_in;
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  nlohmann::json h = nlohmann::json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t pos = 0;
  for (auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__") throw std::invalid_argument(path + ": bad tensor name '" + name + "'");
    if (h.contains(name)) throw std::invalid_argument(path + ": tensor name '" + name + "' given twice");
    t = t.detach().to(torch::kCPU).contiguous();
    auto it = std::find_if(dtypes().begin(), dtypes().end(), [&](const DType& d) { return d.type == t.scalar_type(); });
    if (it == dtypes().end())
      throw std::invalid_argument(path + ": tensor '" + name + "' has a dtype safetensors cannot hold");
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * static_cast<uint64_t>(it->size);
    h[name] = {{"dtype", it->name}, {"shape", t.sizes().vec()}, {"data_offsets", {pos, pos + bytes}}};
    pos += bytes;
  }
  std::string text = h.dump();
  while (text.size() % 8) text += ' ';
  atomic_write_with(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    unsigned char lenb[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) lenb[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(lenb), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, t] : tensors)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
    out.flush();
    if (!out) throw std::runtime_error("write failed: " + tmp);
  });
}

}  // namespace invdiff
