// The tactic timing cache file (edgert/timing_cache.h): entries with and without a recorded
// candidate survive a write and a read byte for byte, the field encoding leaves no space or line
// break, older tactic-only lines still read, and malformed lines are skipped rather than trusted.
#include "edgert/timing_cache.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "edgert/hash.h"
#include "onnx_test_util.h"

namespace edgert {
namespace {

std::string Key(const std::string& seed) { return Sha256Hex(seed); }

TEST(TimingCacheFile, RoundTripsTacticsLabelsAndBlobs) {
  testing_util::TempDir dir;
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte += static_cast<char>(c);
  TimingCache entries;
  entries[Key("a")] = CachedTactic{3, {}, {}};
  entries[Key("b")] = CachedTactic{0, "8/cudnn-fused engine 39", "geometry 1x64x56x56\ncudnn-knobs 1=2 3=4"};
  entries[Key("c")] = CachedTactic{6, "8/igemm-nhwc", ""};
  entries[Key("d")] =
      CachedTactic{1, "2/cudnn+epilogue engine 4", "{\"json\": [1, 2], \"p\": \"50%\"}\r\n" + every_byte};
  const std::string path = dir.File("tactics.cache");
  ASSERT_TRUE(WriteTimingCache(path, entries).ok());
  EXPECT_EQ(ReadTimingCache(path), entries);

  // One line per entry, four space-separated fields where a candidate is recorded, two otherwise.
  const std::string text = testing_util::ReadFile(path);
  size_t lines = 0;
  for (size_t at = 0; (at = text.find('\n', at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, entries.size());
  EXPECT_NE(text.find(Key("a") + " 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find(Key("c") + " 6 =8/igemm-nhwc =\n"), std::string::npos) << text;
  EXPECT_NE(text.find("=8/cudnn-fused%20engine%2039"), std::string::npos) << text;
  EXPECT_NE(text.find("%25"), std::string::npos) << "'%' is escaped";

  // Rewriting replaces the file (no temporary file is left beside it).
  entries.erase(Key("a"));
  ASSERT_TRUE(WriteTimingCache(path, entries).ok());
  EXPECT_EQ(ReadTimingCache(path), entries);
  EXPECT_EQ(testing_util::ReadFile(path).find(Key("a")), std::string::npos);
}

TEST(TimingCacheFile, FieldEncoding) {
  EXPECT_EQ(EncodeTimingCacheField(""), "=");
  EXPECT_EQ(EncodeTimingCacheField("a b\n%~"), "=a%20b%0A%25~");
  std::string out;
  ASSERT_TRUE(DecodeTimingCacheField("=a%20b%0A%25~", &out));
  EXPECT_EQ(out, "a b\n%~");
  ASSERT_TRUE(DecodeTimingCacheField("=", &out));
  EXPECT_EQ(out, "");
  for (const char* bad : {"", "a", "=%", "=%2", "=%2g", "=%g2", "=abc%a0"}) {
    EXPECT_FALSE(DecodeTimingCacheField(bad, &out)) << bad;
  }
}

TEST(TimingCacheFile, SkipsWhatDoesNotParse) {
  testing_util::TempDir dir;
  const std::string path = dir.File("tactics.cache");
  const std::string good = Key("good"), old = Key("old"), bad_blob = Key("bad blob"), no_label = Key("no label");
  std::string upper = Key("upper");
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  testing_util::WriteFile(path, good + " 2 =8/direct-nhwc =\n" +                    // kept
                                    old + " 5\n" +                                  // the older form: kept
                                    bad_blob + " 1 =4/cudnn%20engine%202 =%zz\n" +  // tactic kept alone
                                    no_label + " 4 = =blob\n" +                     // an empty label: tactic alone
                                    Key("three fields") + " 1 =x\n" +               // skipped
                                    Key("negative") + " -1\n" +                     // skipped
                                    Key("huge") + " 12345678901\n" +                // skipped
                                    Key("text") + " seven\n" +                      // skipped
                                    upper + " 1\n" +                                // not lower-case hex: skipped
                                    Key("short").substr(1) + " 1\n" +               // 63 digits: skipped
                                    "\n" + good.substr(0, 10));                     // a torn last line: skipped
  const TimingCache read = ReadTimingCache(path);
  EXPECT_EQ(read.size(), 4u);
  EXPECT_EQ(read.at(good), (CachedTactic{2, "8/direct-nhwc", ""}));
  EXPECT_EQ(read.at(old), (CachedTactic{5, "", ""}));
  EXPECT_EQ(read.at(bad_blob), (CachedTactic{1, "", ""}));
  EXPECT_EQ(read.at(no_label), (CachedTactic{4, "", ""}));

  EXPECT_TRUE(ReadTimingCache(dir.File("missing.cache")).empty());
  const Status unwritable = WriteTimingCache(dir.File("no/such/dir/tactics.cache"), read);
  EXPECT_EQ(unwritable.code(), StatusCode::kIoError);
  EXPECT_NE(unwritable.message().find("no/such/dir/tactics.cache"), std::string::npos) << unwritable.ToString();
}

}  // namespace
}  // namespace edgert
