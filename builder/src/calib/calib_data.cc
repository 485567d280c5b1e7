// Calibration data sources (calibration.h): a directory of tensor files (.npy, .pb) — the
// GStreamer element's capture format among them —, a directory of pictures decoded and preprocessed
// by the caller's loader, and batches held in memory.
//
// OpenCalibrationData:
//   1. list DIR's regular files named *.npy or *.pb, sorted by name (the element writes NNNNNN.npy,
//      so name order is capture order);
//   2. read the first file to decide the layout: input-shaped (one file per batch) or one sample
//      [1, ...rest] of an input [N, ...rest] (N samples per batch);
//   3. hash every file's name and bytes (SHA-256) in order; the bytes are read again per batch.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "edgert/calibration.h"
#include "edgert/hash.h"
#include "onnx/tensor_file.h"

namespace edgert {
namespace {

bool HasSuffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class TensorDirData : public CalibrationData {
 public:
  TensorDirData(std::string dir, std::vector<std::string> files, TensorDef input, int per_batch, std::string hash)
      : dir_(std::move(dir)),
        files_(std::move(files)),
        input_(std::move(input)),
        per_batch_(per_batch),
        hash_(std::move(hash)) {}

  int NumBatches() const override { return static_cast<int>(files_.size()) / per_batch_; }

  StatusOr<std::vector<Tensor>> Batch(int index) override {
    if (index < 0 || index >= NumBatches()) {
      return OutOfRange("calibration batch " + std::to_string(index) + " of " + std::to_string(NumBatches()), dir_);
    }
    EDGERT_ASSIGN_OR_RETURN(Tensor batch, Tensor::Create(input_.dtype, input_.shape));
    const size_t sample_bytes = batch.bytes() / static_cast<size_t>(per_batch_);
    for (int s = 0; s < per_batch_; ++s) {
      const std::string& path = files_[static_cast<size_t>(index * per_batch_ + s)];
      EDGERT_ASSIGN_OR_RETURN(Tensor t, ReadTensorFile(path));
      const Shape want = SampleShape();
      if (t.dtype() != input_.dtype || t.shape() != want) {
        return InvalidArgument(path + ": " + DataTypeName(t.dtype()) + " " + ShapeToString(t.shape()) +
                                   " does not fit network input '" + input_.name + "' (" + DataTypeName(input_.dtype) +
                                   " " + ShapeToString(input_.shape) + "; each file should be " + ShapeToString(want) +
                                   ")",
                               path);
      }
      std::memcpy(static_cast<char*>(batch.raw()) + sample_bytes * static_cast<size_t>(s), t.raw(), sample_bytes);
    }
    return std::vector<Tensor>{batch};
  }

  const std::string& DataHash() const override { return hash_; }

  std::string Describe() const override {
    return std::to_string(files_.size()) + " tensor files from " + dir_ + ", " + std::to_string(NumBatches()) +
           " batches of " + std::to_string(input_.shape.empty() ? 1 : input_.shape[0]) + " for input '" + input_.name +
           "' " + ShapeToString(input_.shape);
  }

 private:
  Shape SampleShape() const {
    if (per_batch_ == 1) return input_.shape;
    Shape s = input_.shape;
    s[0] = 1;
    return s;
  }

  std::string dir_;
  std::vector<std::string> files_;
  TensorDef input_;
  int per_batch_;
  std::string hash_;
};

bool IsImageName(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return HasSuffix(name, ".jpg") || HasSuffix(name, ".jpeg") || HasSuffix(name, ".png") || HasSuffix(name, ".bmp");
}

bool IsTensorName(std::string name) { return HasSuffix(name, ".npy") || HasSuffix(name, ".pb"); }

// Regular files of `dir` whose name passes `keep`, sorted; NotFound when `dir` cannot be opened.
StatusOr<std::vector<std::string>> ListFiles(const std::string& dir, bool (*keep)(std::string)) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return NotFound("cannot open calibration directory " + dir + ": " + std::strerror(errno), dir);
  std::vector<std::string> files;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (!keep(name)) continue;
    const std::string path = dir + "/" + name;
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) files.push_back(path);
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

// SHA-256 over `prefix`, then each file's base name and bytes, in order.
StatusOr<std::string> HashFiles(const std::vector<std::string>& files, const std::string& prefix) {
  Sha256 h;
  h.Update(prefix);
  for (const std::string& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return IoError("cannot read " + path, path);
    const std::string base = path.substr(path.rfind('/') + 1);
    h.Update(base);
    h.Update("\0", 1);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    h.Update(bytes);
  }
  return h.FinishHex();
}

class ImageDirData : public CalibrationData {
 public:
  ImageDirData(std::string dir, std::vector<std::string> files, TensorDef input, ImageLoader loader, std::string hash)
      : dir_(std::move(dir)),
        files_(std::move(files)),
        input_(std::move(input)),
        loader_(std::move(loader)),
        hash_(std::move(hash)) {}

  int NumBatches() const override { return static_cast<int>(files_.size()) / PerBatch(); }

  StatusOr<std::vector<Tensor>> Batch(int index) override {
    if (index < 0 || index >= NumBatches()) {
      return OutOfRange("calibration batch " + std::to_string(index) + " of " + std::to_string(NumBatches()), dir_);
    }
    EDGERT_ASSIGN_OR_RETURN(Tensor batch, Tensor::Create(input_.dtype, input_.shape));
    const int per_batch = PerBatch();
    const size_t sample_bytes = batch.bytes() / static_cast<size_t>(per_batch);
    Shape want = input_.shape;
    want[0] = 1;
    for (int s = 0; s < per_batch; ++s) {
      const std::string& path = files_[static_cast<size_t>(index * per_batch + s)];
      EDGERT_ASSIGN_OR_RETURN(Tensor t, loader_(path));
      if (t.dtype() != DataType::kFloat32 || t.shape() != want) {
        return InvalidArgument(path + ": the preprocessed picture is " + DataTypeName(t.dtype()) + " " +
                                   ShapeToString(t.shape()) + " but network input '" + input_.name + "' needs " +
                                   ShapeToString(want) +
                                   " per picture (check the model config's width, height and color)",
                               path);
      }
      std::memcpy(static_cast<char*>(batch.raw()) + sample_bytes * static_cast<size_t>(s), t.raw(), sample_bytes);
    }
    return std::vector<Tensor>{batch};
  }

  const std::string& DataHash() const override { return hash_; }

  std::string Describe() const override {
    return std::to_string(files_.size()) + " pictures from " + dir_ + ", " + std::to_string(NumBatches()) +
           " batches of " + std::to_string(PerBatch()) + " for input '" + input_.name + "' " +
           ShapeToString(input_.shape);
  }

 private:
  int PerBatch() const { return static_cast<int>(input_.shape[0]); }

  std::string dir_;
  std::vector<std::string> files_;
  TensorDef input_;
  ImageLoader loader_;
  std::string hash_;
};

// One float32 network input of rank 4 (the only layout pictures fill); error naming the input.
StatusOr<TensorDef> SingleImageInput(const NetworkDef& network, const std::string& dir) {
  if (network.inputs.size() != 1) {
    return Unsupported("calibration from pictures needs a network with one input; this one has " +
                           std::to_string(network.inputs.size()),
                       dir);
  }
  const TensorDef& input = network.tensors[static_cast<size_t>(network.inputs[0])];
  if (input.dtype != DataType::kFloat32 || input.shape.size() != 4) {
    return Unsupported(std::string("calibration from pictures needs a float32 [N, C, H, W] input; '") + input.name +
                           "' is " + DataTypeName(input.dtype) + " " + ShapeToString(input.shape),
                       input.name);
  }
  return input;
}

class InMemoryData : public CalibrationData {
 public:
  explicit InMemoryData(std::vector<std::vector<Tensor>> batches) : batches_(std::move(batches)) {
    Sha256 h;
    for (const auto& b : batches_) {
      for (const Tensor& t : b) {
        if (t.defined() && t.bytes() > 0) h.Update(t.raw(), t.bytes());
      }
    }
    hash_ = h.FinishHex();
  }
  int NumBatches() const override { return static_cast<int>(batches_.size()); }
  StatusOr<std::vector<Tensor>> Batch(int index) override {
    if (index < 0 || index >= NumBatches()) return OutOfRange("calibration batch " + std::to_string(index));
    return batches_[static_cast<size_t>(index)];
  }
  const std::string& DataHash() const override { return hash_; }
  std::string Describe() const override { return std::to_string(batches_.size()) + " batches in memory"; }

 private:
  std::vector<std::vector<Tensor>> batches_;
  std::string hash_;
};

}  // namespace

StatusOr<std::unique_ptr<CalibrationData>> OpenCalibrationData(const std::string& dir, const NetworkDef& network) {
  if (network.inputs.size() != 1) {
    return Unsupported("calibration from tensor files needs a network with one input; this one has " +
                           std::to_string(network.inputs.size()),
                       dir);
  }
  const TensorDef& input = network.tensors[static_cast<size_t>(network.inputs[0])];
  if (input.dtype != DataType::kFloat32) {
    return Unsupported(
        std::string("calibration needs a float32 network input; '") + input.name + "' is " + DataTypeName(input.dtype),
        input.name);
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<std::string> files, ListFiles(dir, IsTensorName));
  if (files.empty()) return NotFound("calibration directory " + dir + " holds no .npy or .pb file", dir);

  // Step 2: the layout from the first file.
  EDGERT_ASSIGN_OR_RETURN(Tensor first, ReadTensorFile(files[0]));
  int per_batch = 0;
  if (first.shape() == input.shape) {
    per_batch = 1;
  } else if (!input.shape.empty() && first.shape().size() == input.shape.size() && first.shape()[0] == 1 &&
             std::equal(input.shape.begin() + 1, input.shape.end(), first.shape().begin() + 1)) {
    per_batch = static_cast<int>(input.shape[0]);
  } else {
    return InvalidArgument(files[0] + ": shape " + ShapeToString(first.shape()) + " fits neither network input '" +
                               input.name + "' " + ShapeToString(input.shape) + " nor one sample of it",
                           files[0]);
  }
  if (static_cast<int>(files.size()) < per_batch) {
    return InvalidArgument(dir + " holds " + std::to_string(files.size()) + " samples, fewer than one batch of " +
                               std::to_string(per_batch),
                           dir);
  }
  // Step 3.
  EDGERT_ASSIGN_OR_RETURN(std::string hash, HashFiles(files, "tensors\n"));
  return std::unique_ptr<CalibrationData>(new TensorDirData(dir, std::move(files), input, per_batch, hash));
}

StatusOr<std::string> CalibrationDirKey(const std::string& dir) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<std::string> files, ListFiles(dir, IsTensorName));
  if (files.empty()) return NotFound("calibration directory " + dir + " holds no .npy or .pb file", dir);
  return HashFiles(files, "tensors\n");
}

bool DirHasImages(const std::string& dir) {
  StatusOr<std::vector<std::string>> files = ListFiles(dir, IsImageName);
  return files.ok() && !files->empty();
}

StatusOr<std::unique_ptr<CalibrationData>> OpenImageCalibrationData(const std::string& dir, const NetworkDef& network,
                                                                    ImageLoader loader,
                                                                    const std::string& preprocess_key) {
  EDGERT_ASSIGN_OR_RETURN(TensorDef input, SingleImageInput(network, dir));
  EDGERT_ASSIGN_OR_RETURN(std::vector<std::string> files, ListFiles(dir, IsImageName));
  if (files.empty()) return NotFound("calibration directory " + dir + " holds no .jpg, .jpeg, .png or .bmp file", dir);
  if (static_cast<int64_t>(files.size()) < input.shape[0]) {
    return InvalidArgument(dir + " holds " + std::to_string(files.size()) + " pictures, fewer than one batch of " +
                               std::to_string(input.shape[0]),
                           dir);
  }
  EDGERT_ASSIGN_OR_RETURN(std::string hash, HashFiles(files, "images\n" + preprocess_key + "\n"));
  return std::unique_ptr<CalibrationData>(
      new ImageDirData(dir, std::move(files), std::move(input), std::move(loader), std::move(hash)));
}

std::unique_ptr<CalibrationData> InMemoryCalibrationData(std::vector<std::vector<Tensor>> batches) {
  return std::unique_ptr<CalibrationData>(new InMemoryData(std::move(batches)));
}

}  // namespace edgert
