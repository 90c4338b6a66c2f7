// The CLI is a thin layer: each command parses flags and calls the library.
#pragma once
#include <string>

namespace CLI { class App; }

namespace invdiff {
struct UNetConfig;
struct TrainConfig;
struct OptimConfig;
}

namespace invdiff::cli {

struct GlobalOptions {
  int threads = 0;            // 0: all hardware cores
  std::string device = "cpu";
  bool quiet = false;
  std::string command_line;   // argv as typed (quoted where needed): what reports show to reproduce a run
};

// Sets threads/allocator and resolves the device; call at the start of every command.
void setup_runtime(const GlobalOptions& g);

// Flag groups: the optimiser's (train, debias), the UNet's and the base trainer's (train, run).
void add_optim_options(CLI::App* cmd, OptimConfig& t);
void add_unet_options(CLI::App* cmd, UNetConfig& u);
void add_train_options(CLI::App* cmd, TrainConfig& t);

void add_data_command(CLI::App& app, GlobalOptions& g);
void add_train_command(CLI::App& app, GlobalOptions& g);
void add_sample_command(CLI::App& app, GlobalOptions& g);
void add_run_command(CLI::App& app, GlobalOptions& g);
void add_info_command(CLI::App& app, GlobalOptions& g);
void add_groups_command(CLI::App& app, GlobalOptions& g);
void add_debias_command(CLI::App& app, GlobalOptions& g);
void add_classifier_command(CLI::App& app, GlobalOptions& g);
void add_eval_command(CLI::App& app, GlobalOptions& g);
void add_bench_command(CLI::App& app, GlobalOptions& g);
void add_export_command(CLI::App& app, GlobalOptions& g);

}  // namespace invdiff::cli
