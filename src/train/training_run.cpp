#include "train/training_run.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "core/dir_lock.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/interrupt.h"
#include "core/progress.h"
#include "train/checkpoint.h"

namespace invdiff {

at::Generator step_generator(uint64_t seed, int64_t step, uint64_t salt) {
  const uint64_t base = seed * 1000003ull + static_cast<uint64_t>(step);
  return at::detail::createCPUGenerator(salt == 0 ? base : keyed_seed(base, "salt " + std::to_string(salt)));
}

namespace {
std::string fmt(const char* f, double v) {
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
}  // namespace

TrainingRun::TrainingRun(std::string what, const std::string& out_dir, std::vector<std::string> columns, bool resume)
    : what_(std::move(what)), out_dir_(out_dir), ckpt_(join_path(out_dir, "checkpoint.pt")),
      loss_csv_(join_path(out_dir, "loss.csv")) {
  log_.header = {"step", "loss"};
  log_.header.insert(log_.header.end(), columns.begin(), columns.end());
  log_.header.insert(log_.header.end(), {"lr", "seconds"});
  // Claimed before the checkpoint is looked at: a second process must not resume what the first
  // is still writing.
  lock_ = std::make_unique<DirLock>(out_dir, what_);
  if (file_exists(ckpt_)) {
    if (!resume)
      throw std::runtime_error(out_dir + " already holds a checkpoint: pass --resume to continue it, or choose another -o");
    resuming_ = true;
    meta_ = read_checkpoint_meta(ckpt_);
    start_step_ = meta_.at("step").get<int64_t>();
    if (file_exists(loss_csv_)) {
      auto old = read_csv(loss_csv_);
      for (auto& r : old.rows)
        if (std::stoll(r[0]) <= start_step_) log_.rows.push_back(r);
    }
  }
  ensure_dir(out_dir);
  done_ = start_step_;
  if (!log_.rows.empty()) seconds_before_ = std::stod(log_.rows.back()[log_.header.size() - 1]);
}

TrainingRun::~TrainingRun() = default;

void TrainingRun::start(int64_t total_steps, bool progress) {
  total_ = total_steps;
  t0_ = std::chrono::steady_clock::now();
  bar_ = std::make_unique<ProgressBar>(what_, total_steps, start_step_, progress);
}

void TrainingRun::check_finite(double loss, int64_t step, const std::string& hint) const {
  if (!std::isfinite(loss))
    throw std::runtime_error(what_ + ": loss became " + std::to_string(loss) + " at step " + std::to_string(step) +
                             "; the last checkpoint in " + out_dir_ + " is intact (" + hint + ")");
}

void TrainingRun::log(int64_t step, double loss, const std::vector<double>& values, double lr, const std::string& post) {
  double secs = seconds_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  std::vector<std::string> row{std::to_string(step + 1), fmt("%.6g", loss)};
  for (double v : values) row.push_back(fmt("%.6g", v));
  row.push_back(fmt("%.6g", lr));
  row.push_back(fmt("%.3f", secs));
  log_.rows.push_back(std::move(row));
  recent_.push_back(loss);
  if (recent_.size() > 100) recent_.pop_front();
  double avg = 0;
  for (double v : recent_) avg += v;
  avg /= recent_.size();
  char b[128];
  std::snprintf(b, sizeof b, "loss %.4f%s lr %.2e", avg, post.c_str(), lr);
  post_ = b;
  done_ = step + 1;
  bar_->update(done_, post_);
}

std::string TrainingRun::snapshot_path(int64_t step) const {
  return join_path(join_path(out_dir_, "snapshots"), "step_" + std::to_string(step) + ".pt");
}

bool TrainingRun::end_step(int64_t step, const OptimConfig& cadence, int64_t stop_after,
                           const std::function<void(int64_t)>& save) {
  const bool last = step + 1 == total_;
  const bool stop = (stop_after > 0 && step + 1 - start_step_ >= stop_after) || interrupted();
  auto due = [](int64_t every, int64_t s) { return every > 0 && s % every == 0; };
  auto keep_snapshot = [&](int64_t s) {  // a copy, not a link: the next save replaces checkpoint.pt
    ensure_dir(join_path(out_dir_, "snapshots"));
    atomic_write_with(snapshot_path(s), [&](const std::string& tmp) {
      std::filesystem::copy_file(ckpt_, tmp, std::filesystem::copy_options::overwrite_existing);
    });
  };
  // A run killed between a checkpoint and its snapshot resumes from that checkpoint: the snapshot
  // is made from it now, before this invocation's first save replaces it.
  if (resuming_ && step == start_step_ && due(cadence.snapshot_every, start_step_) && !file_exists(snapshot_path(start_step_)))
    keep_snapshot(start_step_);
  const bool snapshot = due(cadence.snapshot_every, step + 1);
  if (last || stop || snapshot || due(cadence.checkpoint_every, step + 1)) {
    save(step + 1);
    write_log();
  }
  if (snapshot) keep_snapshot(step + 1);
  if (last || !stop) return false;
  bar_->finish(post_);
  stopped_early_ = true;
  if (interrupted())
    throw std::runtime_error("interrupted at step " + std::to_string(step + 1) + "; checkpoint written to " + ckpt_ +
                             " (rerun with --resume to continue)");
  return true;
}

void TrainingRun::write_log() const { write_csv(loss_csv_, log_); }

LoopResult TrainingRun::finish() {
  if (!stopped_early_) bar_->finish();
  return result();
}

LoopResult TrainingRun::result() const {
  LoopResult r;
  r.steps_done = done_;
  for (double v : recent_) r.final_loss += v;
  if (!recent_.empty()) r.final_loss /= recent_.size();
  if (!stopped_early_) {
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    r.steps_per_second = r.seconds > 0 ? (done_ - start_step_) / r.seconds : 0;
  }
  return r;
}

}  // namespace invdiff
