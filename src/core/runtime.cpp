#include "core/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <torch/torch.h>

#include <fstream>
#include <stdexcept>
#include <thread>

namespace invdiff {

static void tune_malloc() {
  // Tensors of a few MB are freed and reallocated every step. By default glibc serves them
  // with mmap and unmaps them on free; keeping them in the heap avoids the page faults.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
}

std::string active_blas_library() {
  // Force the BLAS to load (libtorch resolves it lazily on first use).
  auto a = torch::ones({8, 8});
  (void)torch::mm(a, a);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    std::string path = line.substr(pos);
    if (path.find("blas") != std::string::npos) return path;
  }
  return "";
}

std::string openblas_core_name() {
  // Looked up, not linked: the BLAS is whichever libblas.so.3 the system's alternatives point to.
  using CoreName = char* (*)();
  auto f = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = f ? f() : nullptr;
  return name ? std::string(name) : std::string();
}

static bool cpu_has_avx2() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0) return line.find(" avx2") != std::string::npos;
  return false;
}

bool openblas_generic_fallback(const std::string& core) {
  for (const char* generic : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom"})
    if (core == generic) return cpu_has_avx2();
  return false;
}

std::string blas_label(const std::string& path, const std::string& core) {
  return (path.empty() ? std::string("unknown") : path) + (core.empty() ? "" : " (OpenBLAS kernels: " + core + ")");
}

RuntimeInfo init_runtime(int threads, bool tune_allocator) {
  if (tune_allocator) tune_malloc();
  RuntimeInfo info;
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  info.threads = threads > 0 ? threads : (hw > 0 ? hw : 1);
  torch::set_num_threads(info.threads);
  info.blas = active_blas_library();
  info.blas_optimised = info.blas.find("openblas") != std::string::npos ||
                        info.blas.find("mkl") != std::string::npos ||
                        info.blas.find("blis") != std::string::npos;
  info.blas_core = openblas_core_name();
  return info;
}

c10::Device parse_device(const std::string& name) {
  c10::Device dev(torch::kCPU);
  try {
    dev = c10::Device(name);
  } catch (const std::exception&) {
    throw std::invalid_argument("unknown device '" + name + "' (expected cpu or cuda[:N])");
  }
  if (dev.is_cuda() && !torch::cuda::is_available())
    throw std::invalid_argument("device '" + name + "' requested but this libtorch has no CUDA device");
  return dev;
}

}  // namespace invdiff
