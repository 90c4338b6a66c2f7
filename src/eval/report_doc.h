// One report, two renderings: a list of blocks (headings, paragraphs, tables, images) written
// once and rendered as markdown and as a self-contained-enough HTML page (images stay beside
// it), so `report.md` and `report.html` never drift apart. Inline markup in text is the small
// markdown subset the HTML renderer understands: `code`, **bold**, [text](link).
#pragma once
#include <string>
#include <vector>

namespace invdiff {

class ReportDoc {
 public:
  explicit ReportDoc(std::string title) : title_(std::move(title)) {}
  void heading(const std::string& text, int level = 2);
  void paragraph(const std::string& text);
  void code_block(const std::string& text);
  void table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
  void image(const std::string& path, const std::string& alt);
  // Images shown side by side (one row), each with a caption.
  void images(const std::vector<std::string>& paths, const std::vector<std::string>& captions);

  std::string markdown() const;
  std::string html() const;

 private:
  enum class Kind { Heading, Paragraph, Code, Table, Images };
  struct Block {
    Kind kind;
    int level = 0;
    std::string text;
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;  // tables; images: {path, caption} pairs
  };
  std::string title_;
  std::vector<Block> blocks_;
};

std::string html_escape(const std::string& s);
// `code`, **bold** and [text](link) to HTML; everything else escaped.
std::string inline_markdown_to_html(const std::string& s);

}  // namespace invdiff
