// The CLI's calibration data: tensor files, or pictures decoded and preprocessed as the model config
// (--model-config YAML, its `input:` section) says, through the vision helpers (OpenCV imgcodecs and
// the CPU reference preprocessing, so calibration sees exactly what edgertinfer feeds the network).
// Pictures need a build with the vision helpers' image reader (EDGERT_CALIB_IMAGES, set by
// builder/CMakeLists.txt when EDGERT_WITH_IMAGE_IO is on).
#include <cstdio>

#include "cli_common.h"
#include "edgert/calibration.h"

#if EDGERT_CALIB_IMAGES
#include "edgert/vision/image.h"
#include "edgert/vision/model_config.h"
#endif

namespace edgert {

StatusOr<std::unique_ptr<CalibrationData>> OpenCliCalibrationData(const Int8Options& o, const NetworkDef& network) {
  if (!DirHasImages(o.calib_dir)) return OpenCalibrationData(o.calib_dir, network);
  StatusOr<std::unique_ptr<CalibrationData>> tensors = OpenCalibrationData(o.calib_dir, network);
  if (tensors.ok()) {
    std::printf("calibration data: %s holds pictures and tensor files; using the tensor files\n", o.calib_dir.c_str());
    return tensors;
  }
  if (o.model_config.empty()) {
    return InvalidArgument(
        "calibration directory " + o.calib_dir +
            " holds pictures: give --model-config YAML so they are preprocessed as the model expects",
        o.calib_dir);
  }
#if EDGERT_CALIB_IMAGES
  StatusOr<vision::ModelConfig> config = vision::LoadModelConfig(o.model_config);
  if (!config.ok()) return config.status();
  const vision::PreprocessConfig pre = config->input;
  char key[512];
  std::snprintf(key, sizeof(key),
                "w=%d h=%d resize=%d color=%d scale=%.9g mean=%.9g,%.9g,%.9g std=%.9g,%.9g,%.9g pad=%.9g", pre.width,
                pre.height, static_cast<int>(pre.resize), static_cast<int>(pre.color), pre.scale, pre.mean[0],
                pre.mean[1], pre.mean[2], pre.std[0], pre.std[1], pre.std[2], pre.pad_value);
  ImageLoader loader = [pre](const std::string& path) { return vision::LoadImageAsInput(path, pre); };
  return OpenImageCalibrationData(o.calib_dir, network, loader, key);
#else
  return Unsupported(
      "calibration from pictures needs image file support, which this edgert was built without "
      "(EDGERT_WITH_IMAGE_IO=OFF); convert the pictures to .npy tensors of the network input",
      o.calib_dir);
#endif
}

}  // namespace edgert
