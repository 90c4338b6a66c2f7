#include "experiment/stage.h"

#include <stdexcept>

#include "core/fs.h"
#include "core/hash.h"

namespace invdiff {

namespace {
std::string record_path(const std::string& dir) { return join_path(dir, "stage.json"); }
}  // namespace

StageState stage_state(const std::string& dir, const nlohmann::json& key, const std::string& output) {
  StageState s;
  const std::string rec = record_path(dir);
  if (!file_exists(rec)) return s;
  nlohmann::json j = nlohmann::json::parse(read_text(rec), nullptr, false);
  if (j.is_discarded() || !j.contains("key"))
    throw std::runtime_error(rec + ": not a stage record (corrupt?); remove " + dir + " to redo the stage");
  if (j["key"] != key)
    throw std::runtime_error(dir + " was made with other settings or inputs than this run's (see " + rec +
                             "); choose another -o or remove " + dir);
  if (!j.value("done", false)) {
    s.status = StageStatus::Partial;
    return s;
  }
  const std::string out = join_path(dir, output);
  if (!file_exists(out)) throw std::runtime_error(dir + ": finished stage lost its output " + out + "; remove " + dir);
  if (file_fingerprint(out) != j.value("output_fingerprint", std::string()))
    throw std::runtime_error(out + " changed since its stage finished; remove " + dir + " to redo the stage");
  s.status = StageStatus::Done;
  s.result = j.value("result", nlohmann::json::object());
  return s;
}

void stage_begin(const std::string& dir, const nlohmann::json& key) {
  ensure_dir(dir);
  atomic_write_text(record_path(dir), nlohmann::json{{"key", key}, {"done", false}}.dump(2) + "\n");
}

void stage_finish(const std::string& dir, const nlohmann::json& key, const std::string& output,
                  const nlohmann::json& result) {
  nlohmann::json j = {{"key", key}, {"done", true}, {"output", output},
                      {"output_fingerprint", file_fingerprint(join_path(dir, output))}, {"result", result}};
  atomic_write_text(record_path(dir), j.dump(2) + "\n");
}

}  // namespace invdiff
