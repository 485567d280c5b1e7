// WriteFileAtomically (edgert/atomic_file.h): writes and replaces a file byte for byte, leaves no
// temporary file behind, and on failure names the path at fault and still leaves none.
#include "edgert/atomic_file.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "onnx_test_util.h"

namespace edgert {
namespace {

using testing_util::ReadFile;
using testing_util::TempDir;

// The names in `dir`, without "." and "..".
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

TEST(AtomicFile, WritesAndReplacesContentWithoutLeavingATemporaryFile) {
  TempDir dir;
  const std::string path = dir.File("out.txt");
  std::string bytes;
  for (int c = 0; c < 256; ++c) bytes += static_cast<char>(c);

  ASSERT_TRUE(WriteFileAtomically(path, "first version, longer than the second\n").ok());
  EXPECT_EQ(ReadFile(path), "first version, longer than the second\n");
  ASSERT_TRUE(WriteFileAtomically(path, bytes, "the test file").ok());
  EXPECT_EQ(ReadFile(path), bytes);
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  EXPECT_EQ(ReadFile(path), "");
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"out.txt"});
}

TEST(AtomicFile, MissingDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/out.txt");
  const Status s = WriteFileAtomically(path, "text", "the test file");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.subject(), path);
  EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("the test file"), std::string::npos) << s.ToString();
  EXPECT_TRUE(Entries(dir.path()).empty());
}

TEST(AtomicFile, DirectoryInTheWayIsAnErrorAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.File("taken");
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  const Status s = WriteFileAtomically(path, "text");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.subject(), path);
  EXPECT_NE(s.message().find("to " + path + ":"), std::string::npos) << s.ToString();
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"taken"});  // the directory, nothing else
  EXPECT_TRUE(Entries(path).empty());
}

}  // namespace
}  // namespace edgert
