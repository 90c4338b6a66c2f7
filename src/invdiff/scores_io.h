// The max step's per-sample scores on disk, beside groups_io.h: written by `invdiff groups`, read
// back by `groups --scores` to regroup without rescoring. Joined to dataset rows by `file`.
#pragma once
#include <string>
#include <vector>

#include "invdiff/score.h"

namespace invdiff {

// scores.csv: file, score, then per timestep loss_t<t> (raw) and z_t<t> (standardised); for
// single-t: file, score, t. Features, when kept, follow as res_0 .. res_<D-1>
// (pooled residuals), then h_0 .. h_<C-1> (bottleneck means).
void write_scores_csv(const std::string& path, const std::vector<std::string>& files, const SampleScores& s);
// Reads a scores.csv back, rows joined to `files` by key (so the grouper can be rerun without
// rescoring); throws when a key is missing on either side.
SampleScores read_scores_csv(const std::string& path, const std::vector<std::string>& files);

}  // namespace invdiff
