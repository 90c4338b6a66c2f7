#include "eval/charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "eval/report_doc.h"

namespace invdiff {

namespace {
std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}
std::string text(double x, double y, const std::string& s, const std::string& anchor = "start", int size = 12) {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\" font-family=\"sans-serif\">" + html_escape(s) + "</text>\n";
}
std::string rect(double x, double y, double w, double h, const std::string& fill) {
  return "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
         "\" fill=\"" + fill + "\" stroke=\"#333\" stroke-width=\"0.5\"/>\n";
}
std::string line(double x1, double y1, double x2, double y2, const std::string& extra) {
  return "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) + "\" " + extra +
         "/>\n";
}
std::string svg_open(double w, double h) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(w) + "\" height=\"" + num(h) +
         "\" viewBox=\"0 0 " + num(w) + " " + num(h) + "\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
}
}  // namespace

std::string css_colour(double r, double g, double b) {
  auto c = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 1.0) * 255)); };
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c(r), c(g), c(b));
  return buf;
}

std::string svg_share_bars(const ShareBars& b) {
  const size_t P = b.prompts.size(), M = b.models.size(), K = b.attributes.size();
  if (P == 0 || M == 0 || K == 0) throw std::invalid_argument("share chart: no prompts, models or attributes");
  if (b.shares.size() != M || b.colours.size() != K) throw std::invalid_argument("share chart: ragged input");
  for (const auto& m : b.shares) {
    if (m.size() != P) throw std::invalid_argument("share chart: ragged input");
    for (const auto& p : m)
      if (p.size() != K) throw std::invalid_argument("share chart: ragged input");
  }
  const double left = 190, width = 420, bar = 18, gap = 4, group_gap = 14, top = 30;
  const double height = top + P * (M * (bar + gap) + group_gap) + 40;
  std::string s = svg_open(left + width + 30, height);
  double y = top;
  for (size_t p = 0; p < P; ++p) {
    for (size_t m = 0; m < M; ++m) {
      s += text(left - 8, y + bar * 0.75, b.prompts[p] + " - " + b.models[m], "end");
      double x = left;
      for (size_t k = 0; k < K; ++k) {
        double w = width * std::clamp(b.shares[m][p][k], 0.0, 1.0);
        if (w > 0) s += rect(x, y, w, bar, b.colours[k]);
        if (w > 28) s += text(x + w / 2, y + bar * 0.75, num(100 * b.shares[m][p][k]) + "%", "middle", 10);
        x += w;
      }
      y += bar + gap;
    }
    y += group_gap;
  }
  // The uniform share 1/K: where every prompt's first boundary would sit without bias.
  for (size_t k = 1; k < K; ++k) {
    double x = left + width * static_cast<double>(k) / K;
    s += line(x, top - 6, x, y - group_gap, "stroke=\"#000\" stroke-dasharray=\"4,3\"");
  }
  double lx = left;
  for (size_t k = 0; k < K; ++k) {
    s += rect(lx, y + 4, 12, 12, b.colours[k]) + text(lx + 16, y + 14, b.attributes[k]);
    lx += 90;
  }
  s += text(lx, y + 14, "dashed: uniform share");
  s += text(left, 18, "attribute share of generated images per prompt", "start", 13);
  return s + "</svg>\n";
}

std::vector<double> moving_average(const std::vector<double>& v, size_t window) {
  std::vector<double> out(v.size());
  double sum = 0;
  window = std::max<size_t>(1, window);
  for (size_t i = 0; i < v.size(); ++i) {
    sum += v[i];
    if (i >= window) sum -= v[i - window];
    out[i] = sum / static_cast<double>(std::min(i + 1, window));
  }
  return out;
}

std::string svg_line_chart(const std::vector<LineSeries>& series, const std::string& x_label,
                           const std::string& y_label, bool log_y) {
  const double W = 640, H = 320, l = 70, r = 20, t = 20, bm = 60;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto ty = [&](double v) { return log_y ? std::log10(v) : v; };
  for (const auto& sr : series)
    for (size_t i = 0; i < sr.x.size() && i < sr.y.size(); ++i) {
      if (log_y && !(sr.y[i] > 0)) continue;
      if (!std::isfinite(sr.y[i])) continue;
      x0 = std::min(x0, sr.x[i]);
      x1 = std::max(x1, sr.x[i]);
      y0 = std::min(y0, ty(sr.y[i]));
      y1 = std::max(y1, ty(sr.y[i]));
    }
  if (!(x1 >= x0)) throw std::invalid_argument("line chart: no finite points");
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  auto px = [&](double v) { return l + (v - x0) / (x1 - x0) * (W - l - r); };
  auto py = [&](double v) { return t + (1 - (ty(v) - y0) / (y1 - y0)) * (H - t - bm); };
  std::string s = svg_open(W, H);
  s += line(l, H - bm, W - r, H - bm, "stroke=\"#000\"") + line(l, t, l, H - bm, "stroke=\"#000\"");
  for (int i = 0; i <= 4; ++i) {
    double fx = x0 + (x1 - x0) * i / 4, fy = y0 + (y1 - y0) * i / 4;
    char bx[32], by[32];
    std::snprintf(bx, sizeof bx, "%.0f", fx);
    std::snprintf(by, sizeof by, "%.3g", log_y ? std::pow(10.0, fy) : fy);
    s += text(px(fx), H - bm + 16, bx, "middle", 10);
    double yy = t + (1 - static_cast<double>(i) / 4) * (H - t - bm);
    s += text(l - 6, yy + 4, by, "end", 10) + line(l, yy, W - r, yy, "stroke=\"#ddd\"");
  }
  s += text((l + W - r) / 2, H - bm + 34, x_label, "middle");
  s += "<text x=\"14\" y=\"" + num((t + H - bm) / 2) + "\" font-size=\"12\" font-family=\"sans-serif\" " +
       "text-anchor=\"middle\" transform=\"rotate(-90 14 " + num((t + H - bm) / 2) + ")\">" +
       html_escape(y_label + (log_y ? " (log scale)" : "")) + "</text>\n";
  double lx = l;
  for (const auto& sr : series) {
    std::string pts;
    for (size_t i = 0; i < sr.x.size() && i < sr.y.size(); ++i) {
      if ((log_y && !(sr.y[i] > 0)) || !std::isfinite(sr.y[i])) continue;
      pts += num(px(sr.x[i])) + "," + num(py(sr.y[i])) + " ";
    }
    s += "<polyline fill=\"none\" stroke=\"" + sr.colour + "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>\n";
    s += line(lx, H - 12, lx + 20, H - 12, "stroke=\"" + sr.colour + "\" stroke-width=\"3\"") +
         text(lx + 24, H - 8, sr.name);
    lx += 40 + 7.0 * sr.name.size();
  }
  return s + "</svg>\n";
}

}  // namespace invdiff
