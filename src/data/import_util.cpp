#include "data/import_util.h"

#include <stdexcept>

#include "core/fs.h"

namespace invdiff {

int published_code(const CsvTable& t, size_t row, size_t col, int max) {
  const std::string& v = t.rows[row][col];
  for (int k = 0; k <= max; ++k)
    if (v == std::to_string(k)) return k;
  throw std::runtime_error(t.source + ": row " + std::to_string(row + 2) + ", column '" + t.header[col] + "': '" + v +
                           "' is not one of 0.." + std::to_string(max));
}

void check_inside(const std::string& from, const std::string& file, const std::string& source, size_t row) {
  const std::string why = path_escape_reason(from, file);
  if (!why.empty())
    throw std::runtime_error(source + ": row " + std::to_string(row) + ": file '" + file + "' is outside " + from +
                             " (it " + why + ")");
}

}  // namespace invdiff
