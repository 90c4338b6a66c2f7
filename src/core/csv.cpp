#include "core/csv.h"

#include <cmath>

#include <stdexcept>

#include "core/fs.h"

namespace invdiff {

size_t CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  throw std::runtime_error(source + ": missing column '" + name + "'");
}

bool CsvTable::has_column(const std::string& name) const {
  for (const auto& h : header)
    if (h == name) return true;
  return false;
}

CsvTable parse_csv(const std::string& text, const std::string& source) {
  CsvTable t;
  t.source = source;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool in_quotes = false, field_started = false;
  size_t line = 1;
  auto end_field = [&] { row.push_back(field); field.clear(); field_started = false; };
  auto end_row = [&] {
    end_field();
    if (!(row.size() == 1 && row[0].empty())) rows.push_back(row);  // skip blank lines
    row.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') { field += '"'; ++i; }
        else in_quotes = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"' && !field_started) {
      in_quotes = field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n') {
      end_row();
      ++line;
    } else if (c != '\r') {
      field += c;
      field_started = true;
    }
  }
  if (in_quotes) throw std::runtime_error(source + ": unterminated quoted field at line " + std::to_string(line));
  if (!field.empty() || !row.empty()) end_row();
  if (rows.empty()) throw std::runtime_error(source + ": empty CSV (no header row)");
  t.header = rows.front();
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].size() != t.header.size())
      throw std::runtime_error(source + ": row " + std::to_string(r + 1) + " has " +
                               std::to_string(rows[r].size()) + " fields, header has " +
                               std::to_string(t.header.size()));
    t.rows.push_back(std::move(rows[r]));
  }
  return t;
}

CsvTable read_csv(const std::string& path) { return parse_csv(read_text(path), path); }

std::string csv_escape(const std::string& f) {
  if (f.find_first_of(",\"\n\r") == std::string::npos) return f;
  std::string out = "\"";
  for (char c : f) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string to_csv(const CsvTable& t) {
  std::string out;
  auto put = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (i) out += ',';
      out += csv_escape(r[i]);
    }
    out += '\n';
  };
  put(t.header);
  for (const auto& r : t.rows) put(r);
  return out;
}

void write_csv(const std::string& path, const CsvTable& t) { atomic_write_text(path, to_csv(t)); }

double CsvTable::number(size_t row, size_t col) const {
  const std::string& f = rows.at(row).at(col);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(f, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (f.empty() || used != f.size() || !std::isfinite(v))
    throw std::runtime_error(source + ": row " + std::to_string(row + 2) + ", column '" + header.at(col) + "': '" + f +
                             "' is not a number");
  return v;
}

}  // namespace invdiff
