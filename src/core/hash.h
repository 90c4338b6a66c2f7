// A content fingerprint for files (FNV-1a 64, hex): guided checkpoints record their base's, so a
// base that changed after debiasing is detected instead of silently mixed with a stale G_psi.
// Not cryptographic; it guards against accidents, not adversaries.
#pragma once
#include <string>

namespace invdiff {

std::string file_fingerprint(const std::string& path);  // 16 hex digits; throws if unreadable

}  // namespace invdiff
