// A content fingerprint for files (FNV-1a 64, hex): guided checkpoints record their base's, so a
// base that changed after debiasing is detected instead of silently mixed with a stale G_psi.
// Not cryptographic; it guards against accidents, not adversaries.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace invdiff {

std::string file_fingerprint(const std::string& path);  // 16 hex digits; throws if unreadable

// FNV-1a 64 over n bytes, continuing from h (chain calls to hash several buffers), and its
// 16-hex-digit spelling: what file_fingerprint and dataset fingerprints are made of.
constexpr uint64_t kFnvOffset = 1469598103934665603ull;
uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnvOffset);
std::string hex64(uint64_t h);

// A generator seed for one item from (seed, the item's key): FNV-1a over the key mixed with the
// seed, then the splitmix64 finaliser, so nearby keys or seeds give unrelated streams. What a
// score's noise (key: the row's file) and a generated image's noise (key: prompt and index) come
// from, so neither depends on batching, order or device.
uint64_t keyed_seed(uint64_t seed, const std::string& key);

}  // namespace invdiff
