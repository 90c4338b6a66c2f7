#include "eval/report_doc.h"

namespace invdiff {

void ReportDoc::heading(const std::string& text, int level) { blocks_.push_back({Kind::Heading, level, text, {}, {}}); }
void ReportDoc::paragraph(const std::string& text) { blocks_.push_back({Kind::Paragraph, 0, text, {}, {}}); }
void ReportDoc::code_block(const std::string& text) { blocks_.push_back({Kind::Code, 0, text, {}, {}}); }
void ReportDoc::table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  blocks_.push_back({Kind::Table, 0, "", header, rows});
}
void ReportDoc::image(const std::string& path, const std::string& alt) { images({path}, {alt}); }
void ReportDoc::images(const std::vector<std::string>& paths, const std::vector<std::string>& captions) {
  Block b{Kind::Images, 0, "", {}, {}};
  for (size_t i = 0; i < paths.size(); ++i) b.rows.push_back({paths[i], i < captions.size() ? captions[i] : ""});
  blocks_.push_back(b);
}

std::string ReportDoc::markdown() const {
  std::string md = "# " + title_ + "\n";
  for (const auto& b : blocks_) {
    md += "\n";
    switch (b.kind) {
      case Kind::Heading: md += std::string(b.level, '#') + " " + b.text + "\n"; break;
      case Kind::Paragraph: md += b.text + "\n"; break;
      case Kind::Code: md += "```\n" + b.text + "\n```\n"; break;
      case Kind::Table: {
        md += "|";
        for (const auto& h : b.header) md += " " + h + " |";
        md += "\n|";
        for (size_t i = 0; i < b.header.size(); ++i) md += "---|";
        md += "\n";
        for (const auto& r : b.rows) {
          md += "|";
          for (const auto& c : r) md += " " + c + " |";
          md += "\n";
        }
        break;
      }
      case Kind::Images:
        if (b.rows.size() > 1) {  // side by side: a one-row table of captions over images
          md += "|";
          for (const auto& r : b.rows) md += " " + r[1] + " |";
          md += "\n|";
          for (size_t i = 0; i < b.rows.size(); ++i) md += "---|";
          md += "\n|";
          for (const auto& r : b.rows) md += " ![" + r[1] + "](" + r[0] + ") |";
          md += "\n";
        } else {
          for (const auto& r : b.rows) md += "![" + r[1] + "](" + r[0] + ")\n";
        }
        break;
    }
  }
  return md;
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string inline_markdown_to_html(const std::string& s) {
  std::string o;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '`') {
      size_t j = s.find('`', i + 1);
      if (j != std::string::npos) {
        o += "<code>" + html_escape(s.substr(i + 1, j - i - 1)) + "</code>";
        i = j + 1;
        continue;
      }
    } else if (s.compare(i, 2, "**") == 0) {
      size_t j = s.find("**", i + 2);
      if (j != std::string::npos) {
        o += "<b>" + inline_markdown_to_html(s.substr(i + 2, j - i - 2)) + "</b>";
        i = j + 2;
        continue;
      }
    } else if (s[i] == '[') {
      size_t close = s.find("](", i);
      size_t end = close == std::string::npos ? close : s.find(')', close);
      if (end != std::string::npos) {
        o += "<a href=\"" + html_escape(s.substr(close + 2, end - close - 2)) + "\">" +
             inline_markdown_to_html(s.substr(i + 1, close - i - 1)) + "</a>";
        i = end + 1;
        continue;
      }
    }
    o += html_escape(std::string(1, s[i]));
    ++i;
  }
  return o;
}

// Grids of 16-px tiles are ~74 px wide at native size: min-width scales every image up to a
// readable width (pixelated: nearest-neighbour, no blur) and leaves wider ones (charts) as they are.
std::string ReportDoc::html() const {
  std::string h =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(title_) +
      "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
      "td:first-child,th:first-child{text-align:left}img{image-rendering:pixelated;min-width:400px;max-width:100%}"
      "figure{display:inline-block;margin:0 1em 1em 0;vertical-align:top}pre{background:#f4f4f4;padding:.5em}"
      "</style></head><body>\n<h1>" +
      inline_markdown_to_html(title_) + "</h1>\n";
  for (const auto& b : blocks_) {
    switch (b.kind) {
      case Kind::Heading: {
        std::string tag = "h" + std::to_string(b.level);
        h += "<" + tag + ">" + inline_markdown_to_html(b.text) + "</" + tag + ">\n";
        break;
      }
      case Kind::Paragraph: h += "<p>" + inline_markdown_to_html(b.text) + "</p>\n"; break;
      case Kind::Code: h += "<pre>" + html_escape(b.text) + "</pre>\n"; break;
      case Kind::Table:
        h += "<table><tr>";
        for (const auto& c : b.header) h += "<th>" + inline_markdown_to_html(c) + "</th>";
        h += "</tr>\n";
        for (const auto& r : b.rows) {
          h += "<tr>";
          for (const auto& c : r) h += "<td>" + inline_markdown_to_html(c) + "</td>";
          h += "</tr>\n";
        }
        h += "</table>\n";
        break;
      case Kind::Images:
        h += "<div>";
        for (const auto& r : b.rows)
          h += "<figure><img src=\"" + html_escape(r[0]) + "\" alt=\"" + html_escape(r[1]) + "\"><figcaption>" +
               inline_markdown_to_html(r[1]) + "</figcaption></figure>";
        h += "</div>\n";
        break;
    }
  }
  return h + "</body></html>\n";
}

}  // namespace invdiff
