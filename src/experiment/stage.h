// Resumable stages of `run` and `bench`. A stage owns a directory; DIR/stage.json records its
// key (the stage's configuration plus the fingerprints of its inputs) and, once finished, its
// result and the fingerprint of its main output. So a rerun
//   - skips a stage only when the key matches and the output still has the recorded content
//     (outputs are checked, not just present);
//   - resumes a stage that started with the same key and did not finish;
//   - refuses a directory made with another key (nothing is overwritten silently).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace invdiff {

enum class StageStatus { Fresh, Partial, Done };

struct StageState {
  StageStatus status = StageStatus::Fresh;
  nlohmann::json result;  // Done: what stage_finish stored
};

// `output` is the stage's main output file, relative to dir. Throws when dir holds a stage with
// another key, or a finished stage whose output is missing or changed.
StageState stage_state(const std::string& dir, const nlohmann::json& key, const std::string& output);
// Records the key before the work starts (so an interrupted stage is recognised as partial).
void stage_begin(const std::string& dir, const nlohmann::json& key);
// Records the result and the output's fingerprint; the stage counts as done from here on.
void stage_finish(const std::string& dir, const nlohmann::json& key, const std::string& output,
                  const nlohmann::json& result);

}  // namespace invdiff
