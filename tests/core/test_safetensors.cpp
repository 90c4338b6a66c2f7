#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/fs.h"
#include "core/safetensors.h"
#include "fixtures.h"

using namespace invdiff;

namespace {
// A raw file: the 8-byte length (or `len` when given), the header text, then `data` bytes.
std::string raw_file(const std::string& dir, const std::string& header, size_t data_bytes,
                     std::optional<uint64_t> len = {}) {
  std::string p = join_path(dir, "t.safetensors");
  std::ofstream out(p, std::ios::binary);
  uint64_t n = len.value_or(header.size());
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\0');
  return p;
}
std::string read_error(const std::string& p) {
  std::string e = error_of([&] { read_safetensors(p); });
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;  // one line
  return e;
}
}  // namespace

TEST(Safetensors, RoundTripsDtypesShapesAndMetadata) {
  TempDir d;
  std::string p = join_path(d.path, "m.safetensors");
  auto a = torch::arange(6, torch::kFloat32).view({2, 3});
  auto b = torch::tensor({1.5, -2.25}, torch::kFloat64).to(torch::kHalf);
  auto c = torch::tensor({3.0, 0.5, -1.0}, torch::kFloat32).to(torch::kBFloat16);
  auto i = torch::tensor({10, 900}, torch::kInt64);
  auto s = torch::tensor(7.0f);  // 0-dim
  write_safetensors(p, {{"z.a", a}, {"b", b}, {"c", c}, {"i", i}, {"s", s}}, {{"format", "pt"}});
  auto f = read_safetensors(p);
  ASSERT_EQ(f.tensors.size(), 5u);
  EXPECT_TRUE(torch::equal(f.tensors.at("z.a"), a));
  EXPECT_EQ(f.tensors.at("b").scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(f.tensors.at("b"), b));
  EXPECT_EQ(f.tensors.at("c").scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(f.tensors.at("c").to(torch::kFloat32), torch::tensor({3.0f, 0.5f, -1.0f})));
  EXPECT_TRUE(torch::equal(f.tensors.at("i"), i));
  EXPECT_EQ(f.tensors.at("s").dim(), 0);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  // The header is padded to 8 bytes and the tensors are stored in name order.
  std::string bytes = read_text(p);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  std::string h = bytes.substr(8, n);
  EXPECT_LT(h.find("\"b\""), h.find("\"z.a\""));
  EXPECT_NE(h.find("\"data_offsets\":[0,4]"), std::string::npos) << h;  // b: 2 x F16, first
}

TEST(Safetensors, ReadsDiffusersFixtureHeaderAndTensors) {
  auto f = read_safetensors(diffusers_fixture("unet2d_ddpm_style/io.safetensors"));
  EXPECT_EQ(f.tensors.at("x").sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
  EXPECT_EQ(f.tensors.at("t").scalar_type(), torch::kInt64);
  EXPECT_EQ(f.tensors.at("t")[1].item<int64_t>(), 900);
  EXPECT_EQ(f.tensors.at("expected").scalar_type(), torch::kFloat32);
}

TEST(Safetensors, HostileHeadersGiveOneLineErrors) {
  TempDir d;
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(read_error(raw_file(d.path, ok, 8)), "<no error>");
  // truncated: the file ends inside the header, inside the data, or before the length
  {
    std::string p = join_path(d.path, "short");
    atomic_write_text(p, "abc");
    EXPECT_NE(read_error(p).find("too short"), std::string::npos);
  }
  EXPECT_NE(read_error(raw_file(d.path, ok.substr(0, 20), 0, ok.size())).find("runs past the end"), std::string::npos);
  EXPECT_NE(read_error(raw_file(d.path, ok, 4)).find("past the data"), std::string::npos);
  EXPECT_NE(read_error(raw_file(d.path, ok.substr(0, 30), 8)).find("not valid JSON"), std::string::npos);
  // oversized: a header length of 2^62 (or just over the limit) allocates nothing
  EXPECT_NE(read_error(raw_file(d.path, ok, 8, uint64_t(1) << 62)).find("exceeds the limit"), std::string::npos);
  EXPECT_NE(read_error(raw_file(d.path, ok, 8, kMaxSafetensorsHeader + 1)).find("exceeds the limit"), std::string::npos);
  // Headers with data sections of the given size, and what their error says.
  struct Case {
    std::string header;
    size_t data;
    std::string says;
  };
  const std::string a8 = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::vector<Case> cases{
      // a shape far larger than its bytes, and one whose byte count overflows 64 bits
      {R"({"a":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,8]}})", 8, "expected 4000000000000"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8, "tensor 'a'"},
      // overlapping, holes, trailing bytes
      {"{" + a8 + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, "overlaps"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
       12, "hole of 4"},
      {"{" + a8 + "}", 12, "belong to no tensor"},
      // malformed entries
      {R"({"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}})", 8, "unsupported dtype F99"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "non-negative"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "begin after"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", 0, "needs dtype"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8, "unknown header field 'x'"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       8, "repeats the name 'a'"},
      {R"([[[[[[[[1]]]]]]]])", 0, "nests deeper"},
      {R"({"__metadata__":{"k":1}})", 0, "not a string"},
  };
  for (const auto& c : cases) EXPECT_NE(read_error(raw_file(d.path, c.header, c.data)).find(c.says), std::string::npos) << c.header;
}

TEST(Safetensors, FuzzedBytesNeverCrash) {
  // Every truncation and 200 random single-byte corruptions of a valid file: each either reads
  // or gives a one-line error naming the file.
  TempDir d;
  std::string good = join_path(d.path, "good.safetensors");
  write_safetensors(good, {{"w", torch::randn({3, 4})}, {"b", torch::zeros({4}, torch::kInt64)}});
  const std::string bytes = read_text(good);
  std::string p = join_path(d.path, "f.safetensors");
  auto check = [&](const std::string& content) {
    atomic_write_text(p, content);
    std::string e = error_of([&] { read_safetensors(p); });
    if (e != "<no error>") {
      EXPECT_EQ(e.rfind(p, 0), 0u) << e;
      EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    }
  };
  for (size_t n = 0; n < bytes.size(); n += 3) check(bytes.substr(0, n));
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string c = bytes;
    c[rng() % std::min<size_t>(c.size(), 200)] = static_cast<char>(rng() % 256);
    check(c);
  }
}
