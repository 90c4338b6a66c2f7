#include "core/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace invdiff {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", (long)(t / 3600), (long)(t / 60 % 60), (long)(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", (long)(t / 60), (long)(t % 60));
  return buf;
}

ProgressBar::ProgressBar(std::string label, int64_t total, int64_t start, bool enabled)
    : label_(std::move(label)), total_(total), start_(start), done_(start), enabled_(enabled),
      tty_(isatty(STDERR_FILENO)), t0_(std::chrono::steady_clock::now()), last_draw_(t0_) {}

double ProgressBar::rate() const {
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  return el > 0 ? (done_ - start_) / el : 0.0;
}

void ProgressBar::update(int64_t done, const std::string& postfix) {
  done_ = done;
  postfix_ = postfix;
  auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_draw_).count() < (tty_ ? 0.1 : 10.0)) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish(const std::string& postfix) {
  if (!postfix.empty()) postfix_ = postfix;
  draw(true);
}

void ProgressBar::draw(bool final_line) {
  if (!enabled_) return;
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  double r = rate();
  double eta = r > 0 ? (total_ - done_) / r : NAN;
  double frac = total_ > 0 ? static_cast<double>(done_) / total_ : 1.0;
  const int width = 24;
  int filled = static_cast<int>(frac * width);
  std::string bar(filled, '#');
  bar += std::string(width - filled, '.');
  char head[256];
  std::snprintf(head, sizeof head, "%s [%s] %ld/%ld %.2f it/s %s<%s", label_.c_str(), bar.c_str(),
                (long)done_, (long)total_, r, format_duration(el).c_str(),
                final_line ? "00:00" : format_duration(eta).c_str());
  if (tty_) {
    std::fprintf(stderr, "\r\033[2K%s %s%s", head, postfix_.c_str(), final_line ? "\n" : "");
  } else if (final_line || done_ != last_logged_) {
    std::fprintf(stderr, "%s %s\n", head, postfix_.c_str());
    last_logged_ = done_;
  }
  std::fflush(stderr);
}

}  // namespace invdiff
