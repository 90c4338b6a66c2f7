// A one-line terminal progress bar: done/total, rate, ETA and a free-form postfix (e.g. loss).
// Redraws at most every 100 ms; prints plain lines when stderr is not a terminal.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace invdiff {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, int64_t start = 0, bool enabled = true);
  void update(int64_t done, const std::string& postfix = "");
  void finish(const std::string& postfix = "");
  double rate() const;  // items per second since construction

 private:
  void draw(bool final_line);
  std::string label_;
  int64_t total_, start_, done_;
  std::string postfix_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point t0_, last_draw_;
  int64_t last_logged_ = -1;
};

std::string format_duration(double seconds);

}  // namespace invdiff
