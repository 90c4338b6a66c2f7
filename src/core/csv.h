// Minimal RFC-4180 CSV: a header row, then rows; fields may be quoted ("a,b", "say ""hi""").
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

namespace invdiff {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  // Index of a column; throws "<source>: missing column 'name'" when absent.
  size_t column(const std::string& name) const;
  bool has_column(const std::string& name) const;
  // rows[row][col] as a finite number; throws "<source>: row R, column 'c': 'x' is not a number"
  // (R counts the header as row 1, as a spreadsheet does).
  double number(size_t row, size_t col) const;
  std::string source;  // file name, for error messages
};

CsvTable read_csv(const std::string& path);
CsvTable parse_csv(const std::string& text, const std::string& source = "<csv>");
std::string to_csv(const CsvTable& table);
std::string csv_escape(const std::string& field);
// Atomic write.
void write_csv(const std::string& path, const CsvTable& table);

}  // namespace invdiff
