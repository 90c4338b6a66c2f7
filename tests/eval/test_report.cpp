// The two-format report (Markdown and HTML from one ReportDoc) and the SVG charts of
// `invdiff run` / `invdiff bench`.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eval/charts.h"
#include "eval/report_doc.h"
#include "fixtures.h"

using namespace invdiff;

TEST(ReportDoc, MarkdownAndHtmlCarryTheSameContent) {
  ReportDoc doc("run <x>");
  doc.heading("Metrics");
  doc.paragraph("see `a.md` and **bold** [link](b.html) & more");
  doc.table({"row", "Bias"}, {{"base", "0.700"}, {"guided", "0.400"}});
  doc.images({"a.png", "b.png"}, {"base", "guided"});
  auto md = doc.markdown();
  EXPECT_EQ(md.rfind("# run <x>\n", 0), 0u);
  EXPECT_NE(md.find("## Metrics\n"), std::string::npos);
  EXPECT_NE(md.find("| row | Bias |\n|---|---|\n| base | 0.700 |\n| guided | 0.400 |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| ![base](a.png) | ![guided](b.png) |"), std::string::npos) << md;
  auto html = doc.html();
  EXPECT_NE(html.find("<h1>run &lt;x&gt;</h1>"), std::string::npos);
  EXPECT_NE(html.find("<p>see <code>a.md</code> and <b>bold</b> <a href=\"b.html\">link</a> &amp; more</p>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<tr><td>guided</td><td>0.400</td></tr>"), std::string::npos);
  EXPECT_EQ(count_of(html, "<img src="), 2u);
  EXPECT_EQ(inline_markdown_to_html("a `b<c` d"), "a <code>b&lt;c</code> d");
  EXPECT_EQ(inline_markdown_to_html("unclosed `tick"), "unclosed `tick");
}

TEST(Charts, ShareBarsDrawEveryNonZeroShareAndRejectRaggedInput) {
  ShareBars b;
  b.prompts = {"Bag", "Trouser"};
  b.models = {"base", "guided"};
  b.attributes = {"red", "green"};
  b.colours = {css_colour(1, 0.15, 0.15), css_colour(0.15, 1, 0.15)};
  EXPECT_EQ(b.colours[0], "#ff2626");  // 0.15 * 255 = 38.25 -> 38 = 0x26
  b.shares = {{{0.9, 0.1}, {0.2, 0.8}}, {{0.5, 0.5}, {1.0, 0.0}}};
  auto svg = svg_share_bars(b);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  // 7 non-zero bar segments + 2 legend squares + the white background.
  EXPECT_EQ(count_of(svg, "<rect"), 10u);
  EXPECT_EQ(count_of(svg, "stroke-dasharray"), 1u);  // the uniform share at 1/K = 0.5
  EXPECT_NE(svg.find("Trouser - guided"), std::string::npos);
  EXPECT_NE(svg.find(">90.0%<"), std::string::npos);
  b.shares[1].pop_back();
  EXPECT_NE(error_of([&] { svg_share_bars(b); }).find("ragged"), std::string::npos);
}

TEST(Charts, MovingAverageAndLineChart) {
  auto m = moving_average({1, 2, 3, 4, 5}, 2);
  std::vector<double> want{1, 1.5, 2.5, 3.5, 4.5};
  ASSERT_EQ(m.size(), want.size());
  for (size_t i = 0; i < m.size(); ++i) EXPECT_DOUBLE_EQ(m[i], want[i]);
  EXPECT_EQ(moving_average({3, 1}, 1), (std::vector<double>{3, 1}));
  auto svg = svg_line_chart({{"loss", "#000", {1, 2, 3}, {1.0, 0.1, 0.01}}}, "step", "loss", true);
  EXPECT_EQ(count_of(svg, "<polyline"), 1u);
  EXPECT_NE(svg.find("(log scale)"), std::string::npos);
  // log scale: 1, 0.1, 0.01 are evenly spaced vertically (top 20, bottom 320 - 60 = 260).
  EXPECT_NE(svg.find("points=\"70.0,20.0 345.0,140.0 620.0,260.0 \""), std::string::npos) << svg;
  EXPECT_NE(error_of([] { svg_line_chart({{"x", "#000", {1}, {-1}}}, "a", "b", true); }).find("no finite points"),
            std::string::npos);
}
