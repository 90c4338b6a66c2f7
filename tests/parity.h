// What the parity tests against diffusers' numbers share: the largest error of a comparison,
// recorded as a test property (visible with --gtest_output=xml) as well as checked.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

inline void record_error(const std::string& what, double error) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", error);
  ::testing::Test::RecordProperty(what, b);
}
