// Small SVG charts for reports, written without a plotting library: stacked attribute-share
// bars per prompt (one bar per model) and line charts (loss curves).
#pragma once
#include <string>
#include <vector>

namespace invdiff {

struct ShareBars {
  std::vector<std::string> prompts;
  std::vector<std::string> models;                        // one bar per model within each prompt
  std::vector<std::vector<std::vector<double>>> shares;   // [model][prompt][attribute], rows sum to 1
  std::vector<std::string> attributes;                    // attribute names (legend)
  std::vector<std::string> colours;                       // CSS colours, one per attribute
};
// Horizontal stacked bars, a dashed line at the uniform share 1/K. Throws on ragged input.
std::string svg_share_bars(const ShareBars& b);

struct LineSeries {
  std::string name;
  std::string colour;
  std::vector<double> x, y;
};
// Lines on shared axes; log_y plots log10(y) (non-positive values are dropped).
std::string svg_line_chart(const std::vector<LineSeries>& series, const std::string& x_label,
                           const std::string& y_label, bool log_y = false);

// Trailing moving average over `window` points (window 1: unchanged).
std::vector<double> moving_average(const std::vector<double>& v, size_t window);

// "#rrggbb" from components in [0, 1].
std::string css_colour(double r, double g, double b);

}  // namespace invdiff
