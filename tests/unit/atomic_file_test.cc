// WriteFileAtomically (edgert/atomic_file.h): writes and replaces a file byte for byte, leaves no
// temporary file behind, and on failure names the path at fault and still leaves none.
#include "edgert/atomic_file.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <thread>
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
  EXPECT_EQ(s.message(),
            "cannot write the test file " + path + ": create a temporary file beside it: No such file or directory");
  EXPECT_TRUE(Entries(dir.path()).empty());
}

TEST(AtomicFile, DurableWritesAreMode0644) {
  TempDir dir;
  const std::string path = dir.File("plan.bin");
  const std::string bytes(100000, 'p');
  ASSERT_TRUE(WriteFileAtomically(path, bytes.data(), bytes.size(), "plan", /*durable=*/true).ok());
  EXPECT_EQ(ReadFile(path), bytes);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"plan.bin"});
}

// Threads writing the same path at once each use a temporary file of their own: the file ends as
// one writer's whole content, and no temporary file is left.
TEST(AtomicFile, ConcurrentWritersOfOnePathNeverMixTheirBytes) {
  TempDir dir;
  const std::string path = dir.File("shared.txt");
  constexpr int kThreads = 8;
  std::vector<std::string> contents;
  for (int t = 0; t < kThreads; ++t) contents.push_back(std::string(50000 + t * 977, static_cast<char>('a' + t)));
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t]() {
      for (int k = 0; k < 20; ++k) failures[t] += WriteFileAtomically(path, contents[t]).ok() ? 0 : 1;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "writer " << t;
  const std::string final_bytes = ReadFile(path);
  bool whole = false;
  for (const std::string& c : contents) whole = whole || final_bytes == c;
  EXPECT_TRUE(whole) << final_bytes.size() << " bytes, not one writer's content";
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"shared.txt"});
}

TEST(AtomicFile, DirectoryInTheWayIsAnErrorAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.File("taken");
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  const Status s = WriteFileAtomically(path, "text");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.subject(), path);
  EXPECT_NE(s.message().find("cannot write " + path + ": rename: "), std::string::npos) << s.ToString();
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"taken"});  // the directory, nothing else
  EXPECT_TRUE(Entries(path).empty());
}

}  // namespace
}  // namespace edgert
