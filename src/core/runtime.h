// Process-wide runtime set-up: threads, allocator, device. Call init_runtime() once at start.
#pragma once
#include <string>

namespace c10 { struct Device; }

namespace invdiff {

struct RuntimeInfo {
  int threads = 1;
  std::string blas;      // path of the BLAS library actually mapped into the process
  bool blas_optimised = false;
  std::string blas_core;  // OpenBLAS's kernel set ("Cooperlake", "Haswell", ...); empty for another BLAS
};

// Sets libtorch's intra-op threads (threads <= 0: all hardware cores) and raises glibc's
// mmap/trim thresholds so that large tensors freed every step are kept by malloc instead of
// being returned to the OS and page-faulted back (measured 2.7x on a training step).
// tune_allocator = false keeps glibc's defaults (bench/ablate.sh measures the difference).
RuntimeInfo init_runtime(int threads, bool tune_allocator = true);

// Which libblas the dynamic loader resolved (reads /proc/self/maps after forcing a BLAS call).
std::string active_blas_library();

// OpenBLAS's openblas_get_corename() when the active BLAS is OpenBLAS, else "".
std::string openblas_core_name();
// True when `core` is one of OpenBLAS's pre-AVX kernel sets (what its DYNAMIC_ARCH build picks for
// a CPU model it does not know) while this CPU has AVX2: matmuls ~4x slower (docs/performance.md);
// OPENBLAS_CORETYPE set before start-up fixes it. Reads /proc/cpuinfo only for such a core.
bool openblas_generic_fallback(const std::string& core);
// How `info` and `--version` name the BLAS: its path ("unknown" when none was found), then
// OpenBLAS's kernel set when there is one.
std::string blas_label(const std::string& path, const std::string& core);

// "cpu", "cuda", "cuda:1"; a clear error when CUDA is asked for but absent.
c10::Device parse_device(const std::string& name);

}  // namespace invdiff
