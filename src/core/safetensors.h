// safetensors: an 8-byte little-endian header length N, N bytes of JSON header
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}),
// then the raw little-endian tensor bytes, offsets relative to the end of the header.
//
// The reader is strict and bounded, so a hostile file is one error line, never a crash or a huge
// allocation: the header is at most kMaxSafetensorsHeader bytes and inside the file; every entry
// has exactly those three fields, a known dtype, a non-negative shape whose byte size equals its
// offsets; the tensors tile the data section exactly (no overlap, no hole, nothing after); no name
// is repeated. Nothing is allocated before the header has been checked against the file's size.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace invdiff {

constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;  // the format's own limit (100 MiB)

struct SafetensorsFile {
  std::map<std::string, at::Tensor> tensors;       // CPU, in the file's dtype (F32, F16, BF16, F64, I64, ...)
  std::map<std::string, std::string> metadata;     // "__metadata__"
};

// Throws std::runtime_error "<path>: <what is wrong>" (one line).
SafetensorsFile read_safetensors(const std::string& path);

// Writes the tensors (any device; made contiguous on the CPU) sorted by name, header padded with
// spaces to a multiple of 8 bytes, atomically. Names must be unique and non-empty.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace invdiff
