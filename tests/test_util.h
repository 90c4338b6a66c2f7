// Shared test helpers: a self-deleting temporary directory and a CLI runner.
#pragma once
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <random>
#include <string>

struct TempDir {
  std::string path;
  TempDir() {
    std::random_device rd;
    path = (std::filesystem::temp_directory_path() / ("invdiff_test_" + std::to_string(::getpid()) + "_" +
                                                      std::to_string(rd())))
               .string();
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// The message of the exception f throws, or "<no error>".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

struct CliResult {
  int status;
  std::string output;  // stdout + stderr
};

// Runs the invdiff binary built beside the tests with the given arguments.
inline CliResult run_cli(const std::string& args) {
  std::string cmd = std::string(INVDIFF_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  return {WEXITSTATUS(st), out};
}
