#include <CLI/CLI.hpp>

#include <torch/torch.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/runtime.h"
#include "sampling/any_model.h"

namespace invdiff::cli {

void add_info_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("info", "Show the runtime (threads, BLAS, libtorch) or a checkpoint's metadata");
  auto model = std::make_shared<std::string>();
  cmd->add_option("-m,--model", *model, "checkpoint or diffusers folder to describe");
  cmd->callback([model, &g] {
    auto info = init_runtime(g.threads);
    (void)parse_device(g.device);  // a device this machine lacks is an error here too
    std::printf("libtorch %s, %d threads, BLAS %s%s, CUDA %s\n", TORCH_VERSION, info.threads,
                blas_label(info.blas, info.blas_core).c_str(), info.blas_optimised ? "" : " (NOT optimised)",
                torch::cuda::is_available() ? "available" : "not available");
    if (openblas_generic_fallback(info.blas_core))
      std::printf("note: OpenBLAS did not recognise this CPU and runs its generic %s kernels (matmuls ~4x slower); "
                  "start invdiff with OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2) set\n",
                  info.blas_core.c_str());
    if (!model->empty()) std::printf("%s\n", read_model_meta(*model).dump(2).c_str());
  });
}

}  // namespace invdiff::cli
