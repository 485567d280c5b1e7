// Calibration capture: .npy writing and the every-Nth-frame schedule (see calib_capture.h).
#include "calib_capture.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace edgert::gst {

namespace {
// mkdir -p.
Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return InvalidArgument("calibration-dir is empty", "calibration-dir");
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return IoError("cannot create directory " + partial + ": " + std::strerror(errno), dir);
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return IoError(dir + " is not a directory", dir);
  }
  return Status::Ok();
}
}  // namespace

int CountCapturedFrames(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  int count = 0;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    bool digits = name.size() == 10 && name.compare(6, 4, ".npy") == 0;
    for (size_t i = 0; digits && i < 6; ++i) digits = name[i] >= '0' && name[i] <= '9';
    count += digits ? 1 : 0;
  }
  closedir(d);
  return count;
}

Status WriteNpyFloat32(const std::string& path, const float* data, const Shape& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    dict += (shape.size() == 1 || i + 1 < shape.size()) ? ", " : "";
    count *= shape[i];
  }
  if (shape.size() == 1) dict.pop_back();  // "(5,)" rather than "(5, )"
  dict += "), }";
  // 10 bytes of preamble; the whole header (preamble + dict + padding + '\n') is a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  const uint16_t header_len = static_cast<uint16_t>(dict.size());

  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return IoError("cannot write " + tmp + ": " + std::strerror(errno), path);
  const unsigned char preamble[10] = {0x93,
                                      'N',
                                      'U',
                                      'M',
                                      'P',
                                      'Y',
                                      1,
                                      0,
                                      static_cast<unsigned char>(header_len & 0xff),
                                      static_cast<unsigned char>(header_len >> 8)};
  bool ok = std::fwrite(preamble, 1, sizeof(preamble), f) == sizeof(preamble) &&
            std::fwrite(dict.data(), 1, dict.size(), f) == dict.size() &&
            std::fwrite(data, sizeof(float), static_cast<size_t>(count), f) == static_cast<size_t>(count);
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return IoError("cannot write " + path + ": " + std::strerror(errno), path);
  }
  return Status::Ok();
}

Status CalibrationCapture::Configure(const std::string& dir, int frames, int interval) {
  dir_ = dir;
  frames_ = frames;
  interval_ = interval < 1 ? 1 : interval;
  offered_ = 0;
  written_ = 0;
  if (frames_ <= 0) return Status::Ok();
  return MakeDirs(dir_);
}

bool CalibrationCapture::Offer() {
  if (!enabled() || done()) return false;
  const bool take = offered_ % interval_ == 0;
  ++offered_;
  return take;
}

Status CalibrationCapture::Write(const float* data, const Shape& shape) {
  char name[32];
  std::snprintf(name, sizeof(name), "%06d.npy", written_);
  EDGERT_RETURN_IF_ERROR(WriteNpyFloat32(dir_ + "/" + name, data, shape));
  ++written_;
  return Status::Ok();
}

}  // namespace edgert::gst
