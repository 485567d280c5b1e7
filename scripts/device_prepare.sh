#!/usr/bin/env bash
# Prepares a self-contained GPU build to carry to the device machine (which has CUDA, cuDNN and
# Python but none of edgert's other build dependencies):
#   1. configures and builds build-device/ (Release, CUDA for sm_90, tests on, GStreamer on unless
#      EDGERT_DEVICE_GST=OFF);
#   2. stages what the device needs in build-device/carry (a few MB, well under the device tool's
#      64 MiB): bin/ (edgert, edgert_gpu_tests, edgert_conformance), lib/ (libedgert_runtime and the
#      shared libraries a stock CUDA machine lacks, e.g. protobuf), and onnx_node_tests.tar.gz (the
#      ONNX backend node tests of this machine's onnx wheel, the version the expected-pass list was
#      made with).
#   3. with GStreamer: stages build-device/carry-gst (tests/gst/gst_gpu_stage.sh: the plugin, the CLI,
#      their libraries, Debian's GStreamer packages and the real model; ~55 MB).
# Then, through the device tool: bash scripts/device_test.sh   (carry: build-device/carry)
#                           and: bash tests/gst/gst_gpu_device.sh build-device/carry-gst
#                                (carry: build-device/carry-gst; the two do not fit in one call)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${EDGERT_DEVICE_BUILD:-build-device}
ARCH=${EDGERT_DEVICE_ARCH:-90}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.ccache}

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDGERT_WITH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DEDGERT_BUILD_TESTS=ON -DEDGERT_WITH_GST="${EDGERT_DEVICE_GST:-ON}" \
  -DEDGERT_WITH_IMAGE_IO=OFF >/dev/null
gst_targets=()
if [ "${EDGERT_DEVICE_GST:-ON}" = ON ]; then
  gst_targets=(gstedgert edgert_gst_meta_dump edgert_overlay_gpu_tests)
fi
ninja -C "$BUILD" -j"${EDGERT_JOBS:-2}" edgert edgert_gpu_tests edgert_conformance "${gst_targets[@]}"

CARRY="$BUILD/carry"
rm -rf "$CARRY/bin" "$CARRY/lib"
mkdir -p "$CARRY/bin" "$CARRY/lib"
cp "$BUILD/builder/edgert" "$BUILD/tests/edgert_gpu_tests" "$BUILD/tests/edgert_conformance" "$CARRY/bin/"
cp -P "$BUILD"/runtime/libedgert_runtime.so* "$CARRY/lib/"
# Libraries outside glibc/libstdc++/CUDA that the binaries link (the device has the others).
for bin in "$BUILD/builder/edgert" "$BUILD/tests/edgert_gpu_tests" "$BUILD/tests/edgert_conformance"; do
  ldd "$bin" | awk '/=> \//{print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libgcc_s.so*|libstdc++.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*) ;;
      libcuda*|libcudart*|libcublas*|libcudnn*|libnv*) ;;
      libedgert*) ;;
      *) cp -Lu "$lib" "$CARRY/lib/" ;;
    esac
  done
done

NODE_DIR=$(python3 -c "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data', 'node'))")
if [ ! -f "$CARRY/onnx_node_tests.tar.gz" ]; then
  tar -C "$(dirname "$NODE_DIR")" -czf "$CARRY/onnx_node_tests.tar.gz" node
fi
# The real trained models and a frame with rendered text for tests/models/real_models.py (the device
# has neither PyPI nor GStreamer's textoverlay).
python3 scripts/fetch_models.py --out "$CARRY/models" >/dev/null
if [ ! -f "$CARRY/models/text_frame.rgb" ]; then
  python3 - "$CARRY/models/text_frame.rgb" <<'PY'
import sys
sys.path.insert(0, "tests/models")
import real_models
real_models.render_text_frame(sys.argv[1])
PY
fi
strip --strip-unneeded "$CARRY"/bin/* "$CARRY"/lib/libedgert_runtime.so.* 2>/dev/null || true
du -sh "$CARRY"/* "$CARRY"
if [ "${EDGERT_DEVICE_GST:-ON}" = ON ]; then
  bash tests/gst/gst_gpu_stage.sh "$BUILD" "$BUILD/carry-gst"
fi
