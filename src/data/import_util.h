// Checks the published-format readers share (data/import_*.cpp): their label files are input,
// so every value and path is checked, with the file and row named.
#pragma once
#include <cstddef>
#include <string>

#include "core/csv.h"

namespace invdiff {

// rows[row][col] as an integer code in [0, max]; throws "<source>: row R, column 'c': 'x' is not
// one of 0..max" (R counts the header as row 1).
int published_code(const CsvTable& t, size_t row, size_t col, int max);
// Throws "<source>: row R: file 'f' is outside <from> (it <reason>)" unless from/file stays inside.
void check_inside(const std::string& from, const std::string& file, const std::string& source, size_t row);

}  // namespace invdiff
