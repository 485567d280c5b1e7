// The plan cache: content hashing (never the file name), hits that leave the entry untouched,
// rebuilds of corrupt, foreign-device and other-version entries with the reason logged, and two
// processes racing on an empty cache building once.
#include "edgert/plan_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "edgert/cpu_engine.h"
#include "onnx_test_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT

bool Contains(const std::string& s, const std::string& w) { return s.find(w) != std::string::npos; }

// y = x + w, x and w float [rows, 4]; w holds `fill` everywhere.
onnx::ModelProto AddModel(float fill, int64_t rows = 2) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {rows, 4});
  AddFloatInitializer(m, "w", {rows, 4}, std::vector<float>(static_cast<size_t>(rows * 4), fill));
  AddNode(m, "Add", {"x", "w"}, {"y"}, "add");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {rows, 4});
  return m;
}

// The same model with w stored in the external file `location` (beside the model).
std::string SaveExternalModel(const TempDir& dir, const std::string& name, const std::string& location,
                              const std::vector<float>& w) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {2, 4});
  onnx::TensorProto* t = m.mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(2);
  t->add_dims(4);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = t->add_external_data();
  loc->set_key("location");
  loc->set_value(location);
  AddNode(m, "Add", {"x", "w"}, {"y"}, "add");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {2, 4});
  WriteFile(dir.File(location), std::string(reinterpret_cast<const char*>(w.data()), w.size() * sizeof(float)));
  return SaveModel(m, dir.File(name));
}

struct FileId {
  ino_t ino = 0;
  struct timespec mtime {};
};

FileId Identify(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return {st.st_ino, st.st_mtim};
}

class Cache : public ::testing::Test {
 protected:
  PlanCacheOptions Options() {
    PlanCacheOptions o;
    o.dir = dir_.File("cache");
    o.logger = [this](const std::string& line) { log_ += line + "\n"; };
    return o;
  }
  float RunOnce(const LoadedPlan& plan) {
    StatusOr<std::unique_ptr<CpuEngine>> engine = CpuEngine::Create(plan.network());
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    if (!engine.ok()) return -1;
    std::vector<Tensor> out;
    Tensor x = Tensor::FromVector<float>(std::vector<float>(8, 1.f), {2, 4});
    EXPECT_TRUE((*engine)->Run({x}, &out).ok());
    return out.empty() ? -1 : out[0].data<float>()[7];
  }
  TempDir dir_;
  std::string log_;
};

TEST_F(Cache, SecondCallIsAHitAndLeavesTheEntryUntouched) {
  const std::string model = SaveModel(AddModel(2.f), dir_.File("m.onnx"));
  StatusOr<CachedPlan> first = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->outcome, CacheOutcome::kBuilt);
  EXPECT_EQ(first->path, dir_.File("cache") + "/" + first->key + ".plan");
  EXPECT_EQ(first->key.size(), 64u);
  EXPECT_EQ(RunOnce(first->plan), 3.f);
  EXPECT_EQ(first->plan.metadata().edgert_version, EDGERT_VERSION_STRING);
  EXPECT_EQ(first->plan.metadata().model_hash, *ModelContentHash(model));
  EXPECT_EQ(first->plan.metadata().build_options_hash, BuildOptionsHash({}));
  const FileId before = Identify(first->path);
  EXPECT_TRUE(Contains(log_, "plan cache: building")) << log_;

  log_.clear();
  StatusOr<CachedPlan> second = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->outcome, CacheOutcome::kHit);
  EXPECT_EQ(second->path, first->path);
  EXPECT_EQ(second->build_seconds, 0.0);
  EXPECT_EQ(RunOnce(second->plan), 3.f);
  const FileId after = Identify(second->path);
  EXPECT_EQ(after.ino, before.ino);
  EXPECT_EQ(after.mtime.tv_sec, before.mtime.tv_sec);
  EXPECT_EQ(after.mtime.tv_nsec, before.mtime.tv_nsec);
  EXPECT_TRUE(Contains(log_, "plan cache: hit")) << log_;
  EXPECT_FALSE(Contains(log_, "building")) << log_;
}

TEST_F(Cache, KeyFollowsContentNotFileName) {
  const std::string model = SaveModel(AddModel(2.f), dir_.File("m.onnx"));
  StatusOr<CachedPlan> a = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(a.ok()) << a.status().ToString();

  // The same bytes under another name, in another directory: the same entry, a hit.
  ASSERT_EQ(mkdir(dir_.File("elsewhere").c_str(), 0755), 0);
  const std::string copy = SaveModel(AddModel(2.f), dir_.File("elsewhere/renamed.onnx"));
  StatusOr<CachedPlan> b = GetOrBuildPlan(copy, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->key, a->key);
  EXPECT_EQ(b->outcome, CacheOutcome::kHit);

  // One changed weight, same file name: a new key, a fresh build with the new value.
  SaveModel(AddModel(5.f), model);
  StatusOr<CachedPlan> c = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_NE(c->key, a->key);
  EXPECT_EQ(c->outcome, CacheOutcome::kBuilt);
  EXPECT_EQ(RunOnce(c->plan), 6.f);

  // Other build options, other device, other version: other keys.
  BuildOptions shaped;
  shaped.shapes["x"] = {2, 4};
  EXPECT_NE(BuildOptionsHash(shaped), BuildOptionsHash({}));
  const std::string mh = *ModelContentHash(model);
  DeviceKey gpu;
  gpu.backend = "cuda";
  gpu.gpu_name = "NVIDIA H100";
  gpu.cc_major = 9;
  EXPECT_NE(PlanCacheKey(mh, BuildOptionsHash({}), gpu, EDGERT_VERSION_STRING), c->key);
  EXPECT_NE(PlanCacheKey(mh, BuildOptionsHash({}), CpuDeviceKey(), "0.0.0"), c->key);
  EXPECT_EQ(PlanCacheKey(mh, BuildOptionsHash({}), CpuDeviceKey(), EDGERT_VERSION_STRING), c->key);
}

TEST_F(Cache, BuildOptionsTextIsCanonical) {
  BuildOptions a, b;
  a.shapes["x"] = {1, 3};
  a.shapes["a"] = {2};
  b.shapes["a"] = {2};
  b.shapes["x"] = {1, 3};
  EXPECT_EQ(BuildOptionsText(a), BuildOptionsText(b));
  EXPECT_LT(BuildOptionsText(a).find("shape 1:a"), BuildOptionsText(a).find("shape 1:x"));
  EXPECT_TRUE(Contains(BuildOptionsText(a), std::string("passes ") + kBuilderPassesVersion));
  EXPECT_TRUE(Contains(BuildOptionsText(a), "precision fp32"));
  BuildOptions half = a;
  half.precision = Precision::kFp16;
  EXPECT_NE(BuildOptionsHash(half), BuildOptionsHash(a)) << "precision must be part of the cache key";
  b.input_values["s"] = Tensor::FromVector<int64_t>({1, 2}, {2});
  const std::string with_value = BuildOptionsHash(b);
  b.input_values["s"] = Tensor::FromVector<int64_t>({1, 3}, {2});
  EXPECT_NE(BuildOptionsHash(b), with_value);
  EXPECT_NE(BuildOptionsHash(b), BuildOptionsHash(a));
}

TEST_F(Cache, ExternalDataIsPartOfTheModelHash) {
  const std::string model = SaveExternalModel(dir_, "ext.onnx", "w.bin", std::vector<float>(8, 1.f));
  StatusOr<std::string> h1 = ModelContentHash(model);
  ASSERT_TRUE(h1.ok()) << h1.status().ToString();
  StatusOr<CachedPlan> p1 = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(p1.ok()) << p1.status().ToString();
  EXPECT_EQ(RunOnce(p1->plan), 2.f);
  // Only the external file changes: the .onnx bytes are identical, the hash and key are not.
  const std::string onnx_bytes = ReadFile(model);
  SaveExternalModel(dir_, "ext.onnx", "w.bin", std::vector<float>(8, 4.f));
  ASSERT_EQ(ReadFile(model), onnx_bytes);
  StatusOr<std::string> h2 = ModelContentHash(model);
  ASSERT_TRUE(h2.ok());
  EXPECT_NE(*h1, *h2);
  StatusOr<CachedPlan> p2 = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(p2.ok()) << p2.status().ToString();
  EXPECT_EQ(p2->outcome, CacheOutcome::kBuilt);
  EXPECT_EQ(RunOnce(p2->plan), 5.f);
  // A missing external file is an error naming it.
  ASSERT_EQ(std::remove(dir_.File("w.bin").c_str()), 0);
  StatusOr<std::string> missing = ModelContentHash(model);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), "w.bin")) << missing.status().message();
}

TEST_F(Cache, CorruptEntryIsRebuiltWithTheReasonLogged) {
  const std::string model = SaveModel(AddModel(2.f, 64), dir_.File("m.onnx"));
  StatusOr<CachedPlan> first = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string path = first->path;
  const size_t size = first->plan.metadata().file_bytes;
  // Flip one bit in the weights (only LoadedPlan::Open sees it), then one in the header.
  for (size_t offset : {size - 16, size_t{40}}) {
    SCOPED_TRACE(offset);
    std::string bytes = ReadFile(path);
    ASSERT_EQ(bytes.size(), size);
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x10);
    WriteFile(path, bytes);
    log_.clear();
    StatusOr<CachedPlan> again = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->outcome, CacheOutcome::kRebuilt);
    EXPECT_TRUE(Contains(again->reason, "checksum mismatch")) << again->reason;
    EXPECT_TRUE(Contains(log_, "plan cache: rebuilding " + path + ": ")) << log_;
    EXPECT_TRUE(Contains(log_, again->reason)) << log_;
    EXPECT_TRUE(LoadedPlan::Open(path).ok());
    StatusOr<CachedPlan> hit = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
    ASSERT_TRUE(hit.ok());
    EXPECT_EQ(hit->outcome, CacheOutcome::kHit);
  }
}

TEST_F(Cache, ForeignDeviceOrVersionEntryIsRebuilt) {
  const std::string model = SaveModel(AddModel(2.f), dir_.File("m.onnx"));
  StatusOr<CachedPlan> first = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  DeviceKey gpu;
  gpu.backend = "cuda";
  gpu.gpu_name = "NVIDIA H100";
  gpu.cc_major = 9;
  gpu.sm_count = 132;
  struct Case {
    DeviceKey device;
    std::string version;
    std::string word;
  } cases[] = {{gpu, EDGERT_VERSION_STRING, "NVIDIA H100"}, {CpuDeviceKey(), "0.0.1", "0.0.1"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.word);
    PlanMetadata fake = first->plan.metadata();
    fake.device = c.device;
    fake.edgert_version = c.version;
    StatusOr<std::vector<uint8_t>> bytes = SerializePlan(first->plan.network(), fake);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    ASSERT_TRUE(WritePlanFile(first->path, *bytes).ok());
    log_.clear();
    StatusOr<CachedPlan> again = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->outcome, CacheOutcome::kRebuilt);
    EXPECT_TRUE(Contains(again->reason, c.word)) << again->reason;
    EXPECT_TRUE(Contains(log_, again->reason)) << log_;
    EXPECT_EQ(again->plan.metadata().device, CpuDeviceKey());
    EXPECT_EQ(again->plan.metadata().edgert_version, EDGERT_VERSION_STRING);
  }
  // A valid plan of another model placed under this key is refused by its model hash.
  const std::string other = SaveModel(AddModel(7.f), dir_.File("other.onnx"));
  StatusOr<CachedPlan> o = GetOrBuildPlan(other, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(o.ok());
  ASSERT_EQ(std::rename(o->path.c_str(), first->path.c_str()), 0);
  StatusOr<CachedPlan> again = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, CacheOutcome::kRebuilt);
  EXPECT_TRUE(Contains(again->reason, "another model")) << again->reason;
  EXPECT_EQ(RunOnce(again->plan), 3.f);
}

// A plan of the previous format (version 1: one XXH64 over the content, no stored dtypes) in the
// cache is refused by its version, before anything else of it is read, and rebuilt.
TEST_F(Cache, PreviousFormatEntryIsRebuilt) {
  const std::string model = SaveModel(AddModel(2.f), dir_.File("m.onnx"));
  StatusOr<CachedPlan> first = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::string bytes = ReadFile(first->path);
  ASSERT_GT(bytes.size(), 12u);
  ASSERT_EQ(bytes[8], static_cast<char>(kPlanFormatVersion));  // the u32 format version at offset 8
  bytes[8] = 1;
  WriteFile(first->path, bytes);
  log_.clear();
  StatusOr<CachedPlan> again = GetOrBuildPlan(model, {}, CpuDeviceKey(), Options());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->outcome, CacheOutcome::kRebuilt);
  EXPECT_TRUE(Contains(again->reason, "plan format version 1 is not supported by this edgert, which reads version " +
                                          std::to_string(kPlanFormatVersion)))
      << again->reason;
  EXPECT_TRUE(Contains(log_, again->reason)) << log_;
  EXPECT_EQ(again->plan.metadata().format_version, kPlanFormatVersion);
  EXPECT_EQ(RunOnce(again->plan), 3.f);
}

TEST_F(Cache, DirectoryFromEnvironmentIsCreatedWithParents) {
  const std::string nested = dir_.File("a/b/c");
  ASSERT_EQ(setenv("EDGERT_CACHE_DIR", nested.c_str(), 1), 0);
  EXPECT_EQ(DefaultPlanCacheDir(), nested);
  const std::string model = SaveModel(AddModel(2.f), dir_.File("m.onnx"));
  PlanCacheOptions o;  // dir empty: the environment decides
  StatusOr<CachedPlan> p = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
  unsetenv("EDGERT_CACHE_DIR");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->path, nested + "/" + p->key + ".plan");
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') {
    EXPECT_EQ(DefaultPlanCacheDir(), std::string(home) + "/.cache/edgert");
  }
  // A cache directory that is a file is an error naming it.
  WriteFile(dir_.File("file"), "x");
  o.dir = dir_.File("file");
  StatusOr<CachedPlan> bad = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), dir_.File("file"))) << bad.status().message();
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

std::string MemoFile(const std::string& cache_dir, const std::string& model) {
  struct stat st {};
  EXPECT_EQ(stat(model.c_str(), &st), 0);
  return cache_dir + "/hashes/" + std::to_string(st.st_dev) + "-" + std::to_string(st.st_ino) + ".txt";
}

TEST_F(Cache, HashMemoIsUsedAndNoticesEveryChange) {
  const std::string model = SaveModel(AddModel(2.f), dir_.File("m.onnx"));
  PlanCacheOptions o = Options();
  o.hash_memo_min_age_seconds = 0;  // the test's files are fresh
  StatusOr<CachedPlan> a = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const std::string memo = MemoFile(o.dir, model);
  ASSERT_TRUE(Exists(memo));
  EXPECT_TRUE(Contains(ReadFile(memo), *ModelContentHash(model)));
  StatusOr<CachedPlan> hit = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->outcome, CacheOutcome::kHit);

  // The memo is what a hit consults: a memo naming another hash gives another key.
  std::string text = ReadFile(memo);
  const std::string real = *ModelContentHash(model);
  text.replace(text.find(real), 64, std::string(64, 'a'));
  WriteFile(memo, text);
  StatusOr<CachedPlan> fooled = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
  ASSERT_TRUE(fooled.ok());
  EXPECT_NE(fooled->key, a->key);
  ASSERT_EQ(std::remove(memo.c_str()), 0);

  // Rewriting the model in place with one changed weight, same size, and its old mtime put back:
  // ctime still changes, so the memo no longer matches and the new content gets a new key.
  StatusOr<CachedPlan> b = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->key, a->key);
  struct stat before {};
  ASSERT_EQ(stat(model.c_str(), &before), 0);
  usleep(20 * 1000);
  std::string bytes;
  ASSERT_TRUE(AddModel(3.f).SerializeToString(&bytes));
  ASSERT_EQ(bytes.size(), static_cast<size_t>(before.st_size));
  {
    int fd = open(model.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, model.c_str(), times, 0), 0);
  StatusOr<CachedPlan> c = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->key, a->key);
  EXPECT_EQ(RunOnce(c->plan), 4.f);

  // An external data file changed in place is noticed too.
  const std::string ext = SaveExternalModel(dir_, "ext.onnx", "w.bin", std::vector<float>(8, 1.f));
  StatusOr<CachedPlan> e1 = GetOrBuildPlan(ext, {}, CpuDeviceKey(), o);
  ASSERT_TRUE(e1.ok());
  ASSERT_TRUE(Exists(MemoFile(o.dir, ext)));
  usleep(20 * 1000);
  const std::vector<float> w(8, 6.f);
  {
    int fd = open(dir_.File("w.bin").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, w.data(), 32), 32);
    close(fd);
  }
  StatusOr<CachedPlan> e2 = GetOrBuildPlan(ext, {}, CpuDeviceKey(), o);
  ASSERT_TRUE(e2.ok());
  EXPECT_NE(e2->key, e1->key);
  EXPECT_EQ(RunOnce(e2->plan), 7.f);
}

TEST_F(Cache, HashMemoSkipsFreshFiles) {
  const std::string model = SaveModel(AddModel(2.f), dir_.File("m.onnx"));
  PlanCacheOptions o = Options();  // default minimum age: 2 s; the model was written just now
  ASSERT_TRUE(GetOrBuildPlan(model, {}, CpuDeviceKey(), o).ok());
  EXPECT_FALSE(Exists(MemoFile(o.dir, model)));
  o.remember_model_hashes = false;
  o.hash_memo_min_age_seconds = 0;
  StatusOr<CachedPlan> p = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->outcome, CacheOutcome::kHit);
  EXPECT_FALSE(Exists(MemoFile(o.dir, model)));
}

// Two processes start together on an empty cache; the builder's logger makes the build slow (it
// sleeps while holding the lock), so without the lock both would find no entry and build.
TEST_F(Cache, ConcurrentProcessesBuildOnce) {
  const std::string model = SaveModel(AddModel(2.f, 4096), dir_.File("m.onnx"));
  const std::string marker = dir_.File("builds.txt");
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> children;
  for (int k = 0; k < 2; ++k) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(go[1]);
      char c;
      // Wait until the parent closes the pipe: both children start at once.
      while (read(go[0], &c, 1) > 0) {
      }
      PlanCacheOptions o = Options();
      o.logger = [&](const std::string& line) {
        if (line.find("building") == std::string::npos) return;
        int fd = open(marker.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
          ssize_t n = write(fd, "build\n", 6);
          (void)n;
          close(fd);
        }
        usleep(300 * 1000);
      };
      StatusOr<CachedPlan> p = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
      int code = 10;
      if (p.ok()) {
        code = p->outcome == CacheOutcome::kBuilt ? 0 : p->outcome == CacheOutcome::kHit ? 1 : 2;
        StatusOr<std::unique_ptr<CpuEngine>> e = CpuEngine::Create(p->plan.network());
        if (!e.ok()) code = 11;
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  close(go[0]);
  close(go[1]);
  int built = 0, hit = 0;
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    const int code = WEXITSTATUS(status);
    ASSERT_TRUE(code == 0 || code == 1) << "child exit " << code;
    built += code == 0;
    hit += code == 1;
  }
  EXPECT_EQ(built, 1);
  EXPECT_EQ(hit, 1);
  EXPECT_EQ(ReadFile(marker), "build\n");
}

// Two threads of one process: each call opens its own lock file description, so they exclude
// each other as processes do.
TEST_F(Cache, ConcurrentThreadsBuildOnce) {
  const std::string model = SaveModel(AddModel(2.f), dir_.File("m.onnx"));
  std::atomic<int> builds{0};
  std::atomic<int> ready{0};
  PlanCacheOptions o = Options();
  o.logger = [&](const std::string& line) {
    if (line.find("building") == std::string::npos) return;
    ++builds;
    usleep(200 * 1000);
  };
  StatusOr<CachedPlan> results[2] = {Internal("not run"), Internal("not run")};
  std::vector<std::thread> threads;
  for (int k = 0; k < 2; ++k) {
    threads.emplace_back([&, k] {
      ++ready;
      while (ready.load() < 2) {
      }
      results[k] = GetOrBuildPlan(model, {}, CpuDeviceKey(), o);
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  ASSERT_TRUE(results[1].ok()) << results[1].status().ToString();
  EXPECT_EQ(builds.load(), 1);
  EXPECT_EQ(static_cast<int>(results[0]->outcome == CacheOutcome::kBuilt) +
                static_cast<int>(results[1]->outcome == CacheOutcome::kBuilt),
            1);
  EXPECT_EQ(RunOnce(results[0]->plan), 3.f);
  EXPECT_EQ(RunOnce(results[1]->plan), 3.f);
}

}  // namespace
}  // namespace edgert
