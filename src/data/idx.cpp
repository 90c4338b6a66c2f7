#include "data/idx.h"

#include <zlib.h>

#include <stdexcept>

#include "core/fs.h"

namespace invdiff {

namespace {
struct GzFile {
  gzFile f;
  explicit GzFile(gzFile g) : f(g) {}
  ~GzFile() { if (f) gzclose(f); }
};

void read_exact(gzFile f, void* dst, size_t n, const std::string& path, const char* what) {
  size_t got = 0;
  auto* p = static_cast<uint8_t*>(dst);
  while (got < n) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
    int r = gzread(f, p + got, chunk);
    if (r <= 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      throw std::runtime_error(path + ": truncated or corrupt IDX file while reading " + what +
                               (err ? std::string(" (") + msg + ")" : ""));
    }
    got += static_cast<size_t>(r);
  }
}
}  // namespace

IdxArray read_idx(const std::string& path) {
  GzFile g(gzopen(path.c_str(), "rb"));
  if (!g.f) throw std::runtime_error("cannot open IDX file " + path);
  uint8_t magic[4];
  read_exact(g.f, magic, 4, path, "the header");
  if (magic[0] != 0 || magic[1] != 0)
    throw std::runtime_error(path + ": not an IDX file (bad magic number)");
  if (magic[2] != 0x08)
    throw std::runtime_error(path + ": IDX data type 0x" + std::to_string(magic[2]) +
                             " is not supported (only unsigned bytes, 0x08)");
  int ndim = magic[3];
  if (ndim < 1 || ndim > 8) throw std::runtime_error(path + ": bad IDX dimension count " + std::to_string(ndim));
  IdxArray a;
  int64_t total = 1;
  for (int i = 0; i < ndim; ++i) {
    uint8_t b[4];
    read_exact(g.f, b, 4, path, "the dimensions");
    int64_t d = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | b[3];
    if (d <= 0) throw std::runtime_error(path + ": bad IDX dimension " + std::to_string(d));
    a.shape.push_back(d);
    total *= d;
  }
  if (total > (int64_t(1) << 34)) throw std::runtime_error(path + ": IDX array too large");
  a.data.resize(static_cast<size_t>(total));
  read_exact(g.f, a.data.data(), a.data.size(), path, "the data");
  return a;
}

void write_idx(const std::string& path, const IdxArray& a) {
  int64_t total = 1;
  for (auto d : a.shape) total *= d;
  if (total != static_cast<int64_t>(a.data.size()))
    throw std::invalid_argument("write_idx: shape does not match data size");
  bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  atomic_write_with(path, [&](const std::string& tmp) {
    GzFile g(gzopen(tmp.c_str(), gz ? "wb" : "wbT"));
    if (!g.f) throw std::runtime_error("cannot write " + tmp);
    uint8_t head[4] = {0, 0, 0x08, static_cast<uint8_t>(a.shape.size())};
    gzwrite(g.f, head, 4);
    for (auto d : a.shape) {
      uint8_t b[4] = {uint8_t(d >> 24), uint8_t(d >> 16), uint8_t(d >> 8), uint8_t(d)};
      gzwrite(g.f, b, 4);
    }
    if (!a.data.empty() && gzwrite(g.f, a.data.data(), static_cast<unsigned>(a.data.size())) <= 0)
      throw std::runtime_error("write failed: " + tmp);
    if (gzclose(g.f) != Z_OK) { g.f = nullptr; throw std::runtime_error("write failed: " + tmp); }
    g.f = nullptr;
  });
}

}  // namespace invdiff
