// IDX (the MNIST file format), plain or gzip-compressed: magic 0x0000 <type> <ndim>, big-endian
// int32 dimensions, then the data. Only unsigned-byte data (type 0x08) is used by the datasets.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace invdiff {

struct IdxArray {
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // row-major
};

// Reads .idx or .idx.gz (zlib detects the compression). Errors name the file and the problem.
IdxArray read_idx(const std::string& path);
// Writes gzip-compressed when path ends in ".gz" (used by tests and tools).
void write_idx(const std::string& path, const IdxArray& array);

}  // namespace invdiff
