#!/bin/bash
# Stages what tests/gst/gst_gpu_check.sh needs on the GPU machine, which has CUDA and Python but no
# GStreamer and none of edgert's other shared libraries (see /work/shared/DEVICE.md):
#   CARRY/build/{plugins_gst/plugin/libgstedgert.so, tests/gst/edgert_gst_meta_dump}
#   CARRY/lib.tar.xz  lib/: libedgert_runtime, libedgert_gst_meta and the non-system libraries they
#                link (OpenCV core/imgproc and their BLAS/TBB, protobuf, yaml-cpp), stripped
#   CARRY/debs   Debian's GStreamer 1.22 packages (core, base, bad for cudaupload) and their deps
# usage: tests/gst/gst_gpu_stage.sh BUILD_DIR CARRY_DIR   (BUILD_DIR: EDGERT_WITH_CUDA=ON, GST=ON,
#        targets gstedgert and edgert_gst_meta_dump built); then on the device, from the repo root:
#        bash tests/gst/gst_gpu_device.sh CARRY_DIR   (carry CARRY_DIR; about 50 MiB)
set -euo pipefail
build=$(cd "$1" && pwd)
carry=$2
rm -rf "$carry/build" "$carry/lib" && mkdir -p "$carry/build/plugins_gst/plugin" "$carry/build/tests/gst" "$carry/lib" "$carry/debs"
cp "$build/plugins_gst/plugin/libgstedgert.so" "$carry/build/plugins_gst/plugin/"
cp "$build/tests/gst/edgert_gst_meta_dump" "$carry/build/tests/gst/"
# The CLI (plans and the bare-engine benchmark of gst_gpu_bench.sh), the overlay's GPU test and the
# real model the benchmark runs.
mkdir -p "$carry/build/builder" "$carry/build/tests/gst_overlay"
cp "$build/builder/edgert" "$carry/build/builder/"
if [ -x "$build/tests/gst_overlay/edgert_overlay_gpu_tests" ]; then
  cp "$build/tests/gst_overlay/edgert_overlay_gpu_tests" "$carry/build/tests/gst_overlay/"
fi
python3 "$(dirname "$0")/../../scripts/fetch_models.py" --out "$carry/models" >/dev/null
ldd "$build/plugins_gst/plugin/libgstedgert.so" "$build/tests/gst/edgert_gst_meta_dump" "$build/builder/edgert" | awk '/=> \//{print $3}' |
  sort -u | while read -r lib; do
    case "$(basename "$lib")" in
      # edgert's own and the libraries a stock CUDA machine lacks (the rest: the packages below)
      libedgert*|libopencv*|libblas*|liblapack*|libgfortran*|libquadmath*|libtbb*|libprotobuf*|libyaml-cpp*)
        cp -Lu "$lib" "$carry/lib/" ;;
    esac
  done
strip --strip-unneeded "$carry"/lib/* "$carry"/build/plugins_gst/plugin/*.so "$carry"/build/tests/gst/* \
  "$carry"/build/builder/* "$carry"/build/tests/gst_overlay/* 2>/dev/null || true
(cd "$carry/debs" && apt-get download gstreamer1.0-plugins-base gstreamer1.0-plugins-bad libbsd0 libdrm2 libdw1 \
  libegl1 libelf1 libexpat1 libffi8 libgbm1 libgl1 libgles2 libglib2.0-0 libglvnd0 libglx0 libgstreamer-gl1.0-0 \
  libgstreamer-plugins-bad1.0-0 libgstreamer-plugins-base1.0-0 libgstreamer1.0-0 libgudev-1.0-0 libmd0 \
  liborc-0.4-0 libpcre2-8-0 libudev1 libunwind8 libwayland-client0 libwayland-cursor0 libwayland-egl1 \
  libwayland-server0 libx11-6 libx11-xcb1 libxau6 libxcb1 libxdmcp6 >/dev/null)
# The libraries travel xz-compressed (42 MB -> ~9 MB): the device tool carries 64 MiB in all,
# working tree included. gst_gpu_device.sh unpacks them.
tar -C "$carry" -cJf "$carry/lib.tar.xz" lib && rm -rf "$carry/lib"
du -sh "$carry"
