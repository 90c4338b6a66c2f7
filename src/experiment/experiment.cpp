#include "experiment/experiment.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "core/csv.h"
#include "core/fs.h"
#include "core/hash.h"
#include "data/cfmnist.h"
#include "data/reweight.h"
#include "eval/classifier.h"
#include "eval/classifier_train.h"
#include "eval/colour.h"
#include "eval/evaluate.h"
#include "invdiff/group_weights.h"
#include "invdiff/groups_io.h"
#include "sampling/any_model.h"
#include "experiment/stage.h"
#include "train/checkpoint.h"
#include "train/diffusers_checkpoint.h"

namespace invdiff {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
// From a trainer's loss.csv, so a stage resumed (or found finished) after an interruption
// reports its whole history: cumulative seconds (last row) and the mean loss of the last 100
// steps (the trainers' final_loss).
struct LoggedRun {
  double seconds = 0, final_loss = NAN;
};
LoggedRun logged_run(const std::string& dir) {
  LoggedRun r;
  auto path = join_path(dir, "loss.csv");
  if (!file_exists(path)) return r;
  auto log = read_csv(path);
  if (log.rows.empty()) return r;
  r.seconds = std::stod(log.rows.back()[log.column("seconds")]);
  const size_t cl = log.column("loss"), n = std::min<size_t>(100, log.rows.size());
  double sum = 0;
  for (size_t i = log.rows.size() - n; i < log.rows.size(); ++i) sum += std::stod(log.rows[i][cl]);
  r.final_loss = sum / n;
  return r;
}
std::string ckpt_fp(const std::string& dir) {
  if (is_diffusers_folder(dir)) return diffusers_fingerprint(resolve_diffusers_folder(dir));  // an imported base
  return file_fingerprint(checkpoint_path(dir));
}
}  // namespace

const ImageDataset& Experiment::train() {
  if (!train_) {
    DatasetOptions o;
    o.target_column = target_;
    train_ = load_dataset(data_dir_, o);
  }
  return *train_;
}

std::string Experiment::data_fingerprint() const {
  // The manifest identifies a build (cfmnist, the importers); a bare folder its metadata.csv.
  const std::string manifest = join_path(data_dir_, "manifest.json");
  std::string fp = file_fingerprint(file_exists(manifest) ? manifest : join_path(data_dir_, "metadata.csv"));
  // Another condition column makes other models of the same files; the default keeps old keys.
  if (!target_.empty()) fp += " target " + target_;
  return fp;
}

bool Experiment::has_colour_oracle() const { return !manifest_palette(data_dir_).empty(); }

void Experiment::check_attributes() const {
  const auto cols = attribute_columns();
  if (cols.empty()) return;
  const auto ref = load_metadata(data_dir_, "ref");
  for (const auto& c : cols) {
    if (!ref.has_column(c))
      throw std::runtime_error(ref.source + " has no attribute column '" + c + "' to judge Bias with");
    int64_t unlabelled = 0;
    for (const auto& r : ref.rows) unlabelled += r[ref.column(c)].empty();
    if (ref.rows.empty() || unlabelled > 0)
      throw std::runtime_error(ref.source + ": attribute column '" + c + "' has no value in " +
                               std::to_string(ref.rows.empty() ? 0 : unlabelled) + " of " + std::to_string(ref.rows.size()) +
                               " ref rows; Bias needs every reference image labelled");
  }
}

std::vector<std::string> Experiment::attribute_columns() const {
  if (!attributes_.empty()) return attributes_;
  const std::string path = join_path(data_dir_, "manifest.json");
  if (!file_exists(path)) return {};
  auto m = nlohmann::json::parse(read_text(path));
  std::vector<std::string> cols;
  if (m.contains("attributes"))
    for (const auto& a : m["attributes"]) cols.push_back(a.at("column").get<std::string>());
  else if (m.contains("palette"))
    cols.push_back("colour_name");  // datasets built before the suite: colour only
  return cols;
}

std::vector<std::string> Experiment::oracle_columns(const Recipe& r) {
  if (!r.oracle_columns.empty()) return r.oracle_columns;
  std::vector<std::string> cols{target_column()};
  for (const auto& c : attribute_columns()) cols.push_back(c);
  if (cols.size() == 1)
    throw std::invalid_argument("recipe '" + r.name + "': " + data_dir_ +
                                " names no attribute columns for oracle groups (pass --attribute COL)");
  return cols;
}

nlohmann::json Experiment::attribute_classifiers(const std::string& out) {
  // The colour oracle judges cfmnist's colour exactly; every other attribute gets a classifier
  // trained on the reference split (evaluation only: the label-free method never sees it).
  nlohmann::json res = nlohmann::json::object();
  attr_classifiers_.clear();
  const bool oracle = has_colour_oracle();
  for (const auto& col : attribute_columns()) {
    if (col == "colour_name" && oracle) continue;
    const std::string dir = join_path(out, "attr_" + col);
    ClassifierTrainConfig cfg;
    cfg.column = col;
    cfg.augment = false;  // flips and shifts would change position-like attributes
    res[col] = classifier_stage(dir, {{"stage", "attribute classifier"}, {"data", data_fingerprint()},
                                      {"train", config_key(cfg)}}, cfg);
    attr_classifiers_.push_back(checkpoint_path(dir));
  }
  return res;
}

nlohmann::json Experiment::classifier_stage(const std::string& dir, const nlohmann::json& key,
                                            const ClassifierTrainConfig& cfg) {
  auto st = stage_state(dir, key, "checkpoint.pt");
  if (st.status == StageStatus::Done) return st.result;
  stage_begin(dir, key);
  ClassifierTrainResult r;
  train_classifier(data_dir_, cfg, dir, device_, progress_, &r);
  st.result = {{"val_accuracy", r.val_accuracy}, {"seconds", r.seconds}};
  stage_finish(dir, key, "checkpoint.pt", st.result);
  return st.result;
}

void Experiment::ensure_dataset() {
  // cfmnist and the importers write the manifest last: its presence means the build finished.
  if (file_exists(join_path(data_dir_, "manifest.json")) || file_exists(join_path(data_dir_, "metadata.csv"))) return;
  if (!target_.empty() || !attributes_.empty())
    throw std::runtime_error(data_dir_ + ": no dataset there (no metadata.csv); --target and --attribute name columns "
                             "of an existing one");
  std::printf("building cfmnist in %s\n", data_dir_.c_str());
  build_cfmnist(CfmnistConfig{}, data_dir_, progress_);
}

nlohmann::json Experiment::base(const std::string& dir, const UNetConfig& unet, const TrainConfig& cfg) {
  nlohmann::json key = {{"stage", "base"}, {"data", data_fingerprint()}, {"unet", config_key(unet)}, {"train", config_key(cfg)}};
  auto st = stage_state(dir, key, "checkpoint.pt");
  if (st.status == StageStatus::Done) return st.result;
  stage_begin(dir, key);
  auto r = train_diffusion(train(), unet, cfg, dir, /*resume=*/true, device_, progress_);
  auto lr = logged_run(dir);
  nlohmann::json res = {{"steps", r.steps_done}, {"final_loss", lr.final_loss}, {"seconds", lr.seconds},
                        {"parameters", UNet(unet)->num_parameters()}};
  stage_finish(dir, key, "checkpoint.pt", res);
  return res;
}

nlohmann::json Experiment::classifier(const std::string& dir) {
  ClassifierTrainConfig cfg;
  cfg.column = target_;  // "" : the manifest's (the data fingerprint names any other)
  auto res = classifier_stage(dir, {{"stage", "classifier"}, {"data", data_fingerprint()}}, cfg);
  classifier_ = checkpoint_path(dir);
  return res;
}

nlohmann::json Experiment::groups(const std::string& dir, const std::string& base_dir, const Recipe& r) {
  nlohmann::json key = {{"stage", "groups"}, {"data", data_fingerprint()}, {"mode", r.groups}};
  if (r.groups == GroupsMode::Inferred) {
    key["base"] = ckpt_fp(base_dir);
    key["config"] = config_key(r.groups_cfg);
  } else if (r.groups == GroupsMode::Oracle) {
    key["columns"] = oracle_columns(r);
  } else {
    throw std::invalid_argument("groups stage: recipe '" + r.name + "' has no groups to make");
  }
  auto st = stage_state(dir, key, "groups.csv");
  if (st.status == StageStatus::Done) return st.result;
  stage_begin(dir, key);
  GroupReportOptions ro;
  ro.per_group = 32;
  auto t0 = std::chrono::steady_clock::now();
  nlohmann::json summary;
  if (r.groups == GroupsMode::Oracle) {
    summary = write_oracle_groups(train(), data_dir_, key["columns"].get<std::vector<std::string>>(), dir, ro);
  } else {
    auto model = load_denoiser(base_dir, device_, r.groups_cfg.use_ema);
    summary = infer_groups(train(), &model, r.groups_cfg, dir, device_, progress_, ro);
  }
  nlohmann::json res = {{"seconds", seconds_since(t0)}, {"num_groups", summary["num_groups"]},
                        {"sizes", summary["sizes"]}, {"group_names", summary["group_names"]}};
  const auto& rep = summary["report"];
  // Reported only: what the groups contain, from the attribute columns the grouping never saw.
  if (rep.contains("minority")) res["minority"] = rep["minority"];
  res["groups"] = nlohmann::json::array();
  for (const auto& g : rep["groups"]) {
    nlohmann::json e = {{"name", g["name"]}, {"size", g["size"]}};
    for (const char* k : {"mean_score", "minority_share", "minority_recall"})
      if (g.contains(k)) e[k] = g[k];
    res["groups"].push_back(e);
  }
  res["structure"] = summary["structure"];
  if (summary.contains("score")) res["score"] = summary["score"];
  if (summary.contains("grouper")) res["grouper"] = summary["grouper"];
  stage_finish(dir, key, "groups.csv", res);
  return res;
}

nlohmann::json Experiment::debias(const std::string& dir, const std::string& base_dir, const GroupsSource& groups,
                                  const Recipe& r) {
  nlohmann::json key = {{"stage", "debias"}, {"data", data_fingerprint()}, {"base", ckpt_fp(base_dir)},
                        {"guidance", config_key(r.guidance)}, {"debias", config_key(r.debias)}, {"hard", r.hard_groups},
                        {"cross_class", r.cross_class}};
  key["groups"] = groups.is_none() ? "none" : file_fingerprint(groups_csv_path(*groups.path));
  auto st = stage_state(dir, key, "checkpoint.pt");
  if (st.status == StageStatus::Done) return st.result;
  stage_begin(dir, key);
  auto gw = load_group_weights(groups, train(), r.hard_groups, r.cross_class);
  auto res = debias_train(train(), gw.W, base_dir, r.guidance, r.debias, dir, /*resume=*/true, device_, gw.info,
                          progress_);
  auto lr = logged_run(dir);
  nlohmann::json j = {{"steps", res.steps_done}, {"final_loss", lr.final_loss}, {"seconds", lr.seconds},
                      {"parameters", res.parameters}, {"trainable", res.parameters.value("trainable", int64_t(0))}};
  stage_finish(dir, key, "checkpoint.pt", j);
  return j;
}

nlohmann::json Experiment::reweight(const std::string& dir, const std::string& base_dir, const Recipe& r) {
  TrainConfig cfg;
  cfg.steps = r.reweight_steps;
  if (is_diffusers_folder(base_dir))
    throw std::invalid_argument(base_dir + ": the reweighting baseline fine-tunes an invdiff checkpoint, not a diffusers "
                                "folder; leave its row out (--rows)");
  cfg.init_from = checkpoint_path(base_dir);
  cfg.lr = 2e-4;  // fine-tuning: a fifth of the base's peak rate
  cfg.warmup = 100;
  cfg.seed = r.debias.seed;
  auto meta = read_checkpoint_meta(checkpoint_path(base_dir));
  UNetConfig unet = meta.at("unet").get<UNetConfig>();
  const auto columns = oracle_columns(r);
  nlohmann::json key = {{"stage", "reweight"}, {"data", data_fingerprint()}, {"base", ckpt_fp(base_dir)},
                        {"columns", columns}, {"train", config_key(cfg)}};
  auto st = stage_state(dir, key, "checkpoint.pt");
  if (st.status == StageStatus::Done) return st.result;
  stage_begin(dir, key);
  // The labelled baseline reads the attribute columns (like the oracle rows).
  auto w = inverse_frequency_weights(load_metadata(data_dir_, "train"), train().files, columns);
  auto res = train_diffusion(train(), unet, cfg, dir, /*resume=*/true, device_, progress_, -1, w);
  int64_t params = UNet(unet)->num_parameters();
  auto lr = logged_run(dir);
  nlohmann::json j = {{"steps", res.steps_done}, {"final_loss", lr.final_loss}, {"seconds", lr.seconds},
                      {"trainable", params}};
  stage_finish(dir, key, "checkpoint.pt", j);
  return j;
}

nlohmann::json Experiment::evaluate(const std::string& dir, const std::string& model_dir, int64_t n_per_prompt,
                                    uint64_t seed, std::optional<double> guidance_ratio) {
  if (classifier_.empty()) throw std::logic_error("Experiment::evaluate before Experiment::classifier");
  EvalOptions opt;
  opt.data_dir = data_dir_;
  opt.target_column = target_;
  opt.classifier = classifier_;
  opt.attr_classifiers = attr_classifiers_;
  opt.progress = progress_;
  opt.n_per_prompt = n_per_prompt;
  opt.gen.sampler.seed = seed;
  opt.seed = seed;
  opt.guidance_ratio = guidance_ratio;
  if (model_dir.empty()) opt.reference = true;
  else opt.model = model_dir;
  nlohmann::json key = {{"stage", "eval"}, {"data", data_fingerprint()}, {"classifier", file_fingerprint(classifier_)},
                        {"n", n_per_prompt}, {"seed", seed}, {"sampler", generation_params("", opt.gen)}};
  key["model"] = model_dir.empty() ? "reference" : ckpt_fp(model_dir);
  for (const auto& a : attr_classifiers_) key["attribute_classifiers"].push_back(file_fingerprint(a));
  if (guidance_ratio) key["guidance_ratio"] = *guidance_ratio;
  auto st = stage_state(dir, key, "metrics.json");
  if (st.status == StageStatus::Done) return st.result;
  stage_begin(dir, key);
  auto m = invdiff::evaluate(opt, dir, device_);
  stage_finish(dir, key, "metrics.json", m);
  return m;
}

nlohmann::json Experiment::make_model(const std::string& dir, const std::string& base_dir, const Recipe& r,
                                      const std::string& groups_dir) {
  nlohmann::json out;
  if (r.groups == GroupsMode::Reweight) {
    const std::string model = join_path(dir, "model");
    out["model"] = model;
    out["train"] = reweight(model, base_dir, r);
    return out;
  }
  GroupsSource source = GroupsSource::none();
  if (r.groups != GroupsMode::None) {
    source = GroupsSource::at(groups_dir.empty() ? join_path(dir, "groups") : groups_dir);
    out["groups"] = groups(*source.path, base_dir, r);
    const auto st = out["groups"].value("structure", nlohmann::json::object());
    if (r.groups == GroupsMode::Inferred && r.min_step_needs_structure && st.contains("clear") &&
        !st["clear"].get<bool>()) {
      out["model"] = base_dir;  // nothing to rebalance: the base is left as it is
      out["skipped"] = true;
      out["train"] = {{"skipped", "no clear group structure: " + st.value("reason", std::string())},
                      {"steps", 0}, {"trainable", 0}, {"seconds", 0.0}, {"final_loss", nullptr}};
      return out;
    }
  }
  const std::string model = join_path(dir, "guided");
  out["model"] = model;
  out["train"] = debias(model, base_dir, source, r);
  return out;
}

}  // namespace invdiff
