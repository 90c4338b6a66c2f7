// ROC AUC of a score against a binary flag (Mann-Whitney U with average ranks for ties): the
// probability that a random positive outscores a random negative. Used only to *report* how
// well label-free groups recover a known attribute; never in inference.
#pragma once
#include <vector>

namespace invdiff {

// positive[i] != 0 marks a positive. Returns NaN when either class is empty.
double roc_auc(const std::vector<double>& score, const std::vector<int>& positive);

}  // namespace invdiff
