// The bookkeeping every invdiff training loop shares, so that a loop (train/trainer.cpp,
// invdiff/debias.cpp, eval/classifier.cpp) shows only its own step and reads top to bottom:
//   - resume-or-refuse: an output directory that holds a checkpoint is continued with --resume
//     and refused without it; resuming replays loss.csv up to the checkpoint's step;
//   - the per-step random stream: everything random in step k comes from (seed, k), so a resumed
//     run replays what an uninterrupted one would have drawn;
//   - the log: one loss.csv row per step, the rolling mean of the last 100 losses, the bar;
//   - one process at a time: the output directory is claimed (core/dir_lock.h) for the run's life;
//   - the NaN check, checkpoints when due (every N steps, the last step, a test's stop_after,
//     Ctrl-C) and the result.
// A plain helper, not a framework: the loop calls it, it never calls the loop (except `save`).
#pragma once
#include <ATen/core/Generator.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/csv.h"
#include "train/optim.h"

namespace invdiff {

class DirLock;
class ProgressBar;

struct LoopResult {
  int64_t steps_done = 0;
  double final_loss = 0;   // mean loss over the last 100 steps
  double seconds = 0;      // this invocation's (0 when it stopped early)
  double steps_per_second = 0;
};

// Everything random in a step comes from (seed, step); `salt` separates streams sharing a seed.
// Salt 0 is seed * 1000003 + step (every base checkpoint so far was trained with it); another
// salt goes through keyed_seed, so (step s, salt k) never equals (step s + k, salt 0).
at::Generator step_generator(uint64_t seed, int64_t step, uint64_t salt = 0);

class TrainingRun {
 public:
  // `what` names the loop in messages and on the bar; `columns` are the loop's own loss.csv
  // columns between "loss" and "lr". Throws when out_dir holds a checkpoint and !resume, or when
  // another process is writing out_dir.
  TrainingRun(std::string what, const std::string& out_dir, std::vector<std::string> columns, bool resume);
  ~TrainingRun();

  const std::string& checkpoint() const { return ckpt_; }
  bool resuming() const { return resuming_; }
  // The checkpoint's meta when resuming (the loop takes its stored configuration from it), else
  // an empty object; the loop fills it and `save` stores it.
  nlohmann::json& meta() { return meta_; }
  int64_t start_step() const { return start_step_; }

  // Starts the clock and the bar once the loop knows its budget.
  void start(int64_t total_steps, bool progress);
  // Throws, naming the step and the intact checkpoint, when loss is not finite.
  void check_finite(double loss, int64_t step, const std::string& hint) const;
  // Logs step + 1: loss, the loop's columns (`values`, same order), lr and the cumulative seconds;
  // updates the rolling mean and the bar ("loss <mean>" + post + " lr <lr>").
  void log(int64_t step, double loss, const std::vector<double>& values, double lr, const std::string& post = "");
  // After step's log: writes a checkpoint (save(step + 1), then loss.csv) when due, and copies it
  // to snapshots/step_<step + 1>.pt when a snapshot is due (cadences: OptimConfig). Returns true
  // when the loop must return now (stopped before its budget by stop_after); throws, after
  // saving, when interrupted.
  bool end_step(int64_t step, const OptimConfig& cadence, int64_t stop_after, const std::function<void(int64_t)>& save);
  // Where end_step keeps the snapshot of `step`.
  std::string snapshot_path(int64_t step) const;
  // After the loop: closes the bar and returns the result.
  LoopResult finish();
  // The result so far (what a loop returns when end_step said stop).
  LoopResult result() const;

 private:
  std::string what_, out_dir_, ckpt_, loss_csv_;
  std::unique_ptr<DirLock> lock_;  // held from the first check to the end of the loop
  bool resuming_ = false;
  nlohmann::json meta_ = nlohmann::json::object();
  int64_t start_step_ = 0, total_ = 0, done_ = 0;
  bool stopped_early_ = false;
  CsvTable log_;
  std::deque<double> recent_;
  double seconds_before_ = 0;
  std::chrono::steady_clock::time_point t0_;
  std::unique_ptr<ProgressBar> bar_;
  std::string post_;

  void write_log() const;  // loss.csv, after each checkpoint
};

}  // namespace invdiff
