// Calibration capture for edgertinfer: writes preprocessed network inputs as .npy files (NumPy
// format version 1.0, little-endian float32, C order) so INT8 calibration can run on the frames a
// deployment really sees; the element then builds its INT8 plan from them (precision int8).
//
// Thread rules: used by the element's streaming (or batch timer) thread under the element's batch
// lock; not thread-safe by itself.
#pragma once

#include <cstdint>
#include <string>

#include "edgert/status.h"
#include "edgert/tensor.h"

namespace edgert::gst {

// Writes `data` (float32, shape `shape`, C order) to `path` as a version 1.0 .npy file: magic,
// version, header length (uint16 LE), the header dict padded with spaces to a multiple of 64 bytes
// and ending in '\n', then the raw elements. Errors name the file.
Status WriteNpyFloat32(const std::string& path, const float* data, const Shape& shape);

// How many captured frames (NNNNNN.npy, six digits) `dir` holds; 0 when it does not exist.
int CountCapturedFrames(const std::string& dir);

class CalibrationCapture {
 public:
  // frames: how many to write (0 disables); interval: every interval-th considered frame is
  // written (1 = every frame); dir is created if missing.
  Status Configure(const std::string& dir, int frames, int interval);
  bool enabled() const { return frames_ > 0; }
  bool done() const { return frames_ > 0 && written_ >= frames_; }
  int written() const { return written_; }
  int target() const { return frames_; }
  const std::string& dir() const { return dir_; }
  // True when the next offered frame (counted from 0 since Configure) is to be written; advances
  // the frame counter.
  bool Offer();
  // Writes one [1,C,H,W] input as NNNNNN.npy (NNNNNN = written so far, from 000000).
  Status Write(const float* data, const Shape& shape);

 private:
  std::string dir_;
  int frames_ = 0;
  int interval_ = 1;
  int64_t offered_ = 0;
  int written_ = 0;
};

}  // namespace edgert::gst
