#include <gtest/gtest.h>

#include <filesystem>

#include "core/csv.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/runtime.h"
#include "fixtures.h"

using namespace invdiff;

TEST(Csv, QuotedFieldsRoundTrip) {
  CsvTable t;
  t.header = {"file", "class_name", "note"};
  t.rows = {{"a.png", "T-shirt/top", "has, comma"}, {"b.png", "Trouser", "say \"hi\"\nnext line"}};
  auto back = parse_csv(to_csv(t));
  EXPECT_EQ(back.header, t.header);
  EXPECT_EQ(back.rows, t.rows);
}

TEST(Csv, MissingColumnNamesFileAndColumn) {
  auto t = parse_csv("file,split\na.png,train\n", "meta.csv");
  try {
    t.column("class");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "meta.csv: missing column 'class'");
  }
}

TEST(Csv, RaggedRowIsAnError) {
  EXPECT_THROW(parse_csv("a,b\n1,2,3\n", "x.csv"), std::runtime_error);
  EXPECT_THROW(parse_csv("a,b\n\"1,2\n", "x.csv"), std::runtime_error);
}

TEST(Fs, AtomicWriteLeavesNoTempFile) {
  TempDir d;
  std::string p = join_path(d.path, "sub/x.txt");
  atomic_write_text(p, "hello");
  EXPECT_EQ(read_text(p), "hello");
  atomic_write_text(p, "again");
  EXPECT_EQ(read_text(p), "again");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(join_path(d.path, "sub"))) { (void)e; ++files; }
  EXPECT_EQ(files, 1);
}

TEST(Fs, FailedWriterKeepsOldContent) {
  TempDir d;
  std::string p = join_path(d.path, "x.txt");
  atomic_write_text(p, "old");
  EXPECT_THROW(atomic_write_with(p, [](const std::string& tmp) {
                 atomic_write_text(tmp, "partial");
                 throw std::runtime_error("disk full");
               }),
               std::runtime_error);
  EXPECT_EQ(read_text(p), "old");
}

TEST(Runtime, ThreadsAndOptimisedBlas) {
  auto info = init_runtime(2);
  EXPECT_EQ(info.threads, 2);
  // The set-up installs libopenblas0-openmp; the reference BLAS is ~20x slower.
  EXPECT_TRUE(info.blas_optimised) << "active BLAS: " << info.blas;
  // OpenBLAS names its kernel set (what `invdiff info` reports, and how a generic fallback on an
  // unrecognised CPU is told apart).
  if (info.blas.find("openblas") != std::string::npos) {
    EXPECT_FALSE(info.blas_core.empty());
    EXPECT_EQ(openblas_core_name(), info.blas_core);
  }
  // Known kernel sets and other libraries are never a fallback; the label by hand.
  EXPECT_FALSE(openblas_generic_fallback("Cooperlake"));
  EXPECT_FALSE(openblas_generic_fallback("Haswell"));
  EXPECT_FALSE(openblas_generic_fallback(""));
  EXPECT_EQ(blas_label("", ""), "unknown");
  EXPECT_EQ(blas_label("/lib/libblas.so.3", ""), "/lib/libblas.so.3");
  EXPECT_EQ(blas_label("/lib/libopenblas.so", "Haswell"), "/lib/libopenblas.so (OpenBLAS kernels: Haswell)");
}

TEST(Json, NonDefaultFieldsKeepsOnlyWhatDiffers) {
  auto d = nlohmann::json::parse(R"({"a":1,"b":{"x":1,"y":2},"c":[1,2],"e":null})");
  auto v = nlohmann::json::parse(R"({"a":1,"b":{"x":1,"y":3},"c":[1,2],"e":0.5,"new":true})");
  EXPECT_EQ(non_default_fields(v, d), nlohmann::json::parse(R"({"b":{"y":3},"e":0.5,"new":true})"));
  EXPECT_EQ(non_default_fields(d, d), nlohmann::json::object());
  EXPECT_EQ(non_default_fields(nlohmann::json(3), d), nlohmann::json(3));
}

TEST(Json, OptionalIsNullOrValue) {
  std::optional<double> unset, set = 0.25;
  EXPECT_TRUE(nlohmann::json(unset).is_null());
  EXPECT_EQ(nlohmann::json(set), 0.25);
  EXPECT_FALSE(nlohmann::json(nullptr).get<std::optional<double>>().has_value());
  EXPECT_EQ(nlohmann::json(2.5).get<std::optional<double>>().value(), 2.5);
  EXPECT_EQ(join_choices({"a"}), "a");
  EXPECT_EQ(join_choices({"a", "b", "c"}), "a, b or c");
}

TEST(Csv, NumberNamesFileRowAndColumn) {
  auto t = parse_csv("file,w_0\na.png,0.5\nb.png,abc\nc.png,1e400\nd.png,\ne.png,2x\n", "groups.csv");
  EXPECT_DOUBLE_EQ(t.number(0, 1), 0.5);
  EXPECT_EQ(error_of([&] { t.number(1, 1); }), "groups.csv: row 3, column 'w_0': 'abc' is not a number");
  EXPECT_NE(error_of([&] { t.number(2, 1); }).find("'1e400' is not a number"), std::string::npos);  // overflow
  EXPECT_NE(error_of([&] { t.number(3, 1); }).find("row 5"), std::string::npos);                    // empty
  EXPECT_NE(error_of([&] { t.number(4, 1); }).find("'2x' is not a number"), std::string::npos);     // trailing
}

namespace {
struct Knobs {
  double lr = 1e-3;
  std::optional<int> t_hi;
  std::string name = "a";
  bool flag = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Knobs, lr, t_hi, name, flag)
struct Outer {
  Knobs debias;
  int steps = 10;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Outer, debias, steps)
}  // namespace

TEST(Json, SettingsPatchExistingMembersOnly) {
  Outer o = with_settings(Outer{}, {"debias.lr=3e-4", "debias.t_hi=900", "debias.name=lora", "debias.flag=true",
                                    "steps=20"});
  EXPECT_DOUBLE_EQ(o.debias.lr, 3e-4);
  EXPECT_EQ(o.debias.t_hi.value(), 900);
  EXPECT_EQ(o.debias.name, "lora");  // not JSON: taken as a string
  EXPECT_TRUE(o.debias.flag);
  EXPECT_EQ(o.steps, 20);
  EXPECT_FALSE(with_settings(o, {"debias.t_hi=null"}).debias.t_hi.has_value());
  EXPECT_EQ(error_of([] { with_settings(Outer{}, {"debias.lrr=1"}); }),
            "--set debias.lrr: no such setting (lrr is not one of: flag, lr, name, t_hi)");
  EXPECT_EQ(error_of([] { with_settings(Outer{}, {"debias=1"}); }), "--set debias: names a group of settings, not one");
  EXPECT_EQ(error_of([] { with_settings(Outer{}, {"steps"}); }), "--set 'steps': expected KEY=VALUE (e.g. debias.lr=3e-4)");
  EXPECT_NE(error_of([] { with_settings(Outer{}, {"debias.lr=fast"}); }).find("--set debias.lr=fast: a value has the wrong type"),
            std::string::npos);
  EXPECT_NE(error_of([] { with_settings(Outer{}, {"steps.x=1"}); }).find("no such setting"), std::string::npos);
}
