#!/bin/bash
# On the GPU machine, from the repository root: unpacks the GStreamer packages that
# gst_gpu_stage.sh put in CARRY/debs into a private prefix (only the plugins the check uses are
# visible: coreelements, videotestsrc, nvcodec for cudaupload), points the loader at CARRY/lib and
# the device's cuDNN, and runs tests/gst/gst_gpu_check.sh on CARRY/build. Logs go to $OUT when set.
# usage: bash tests/gst/gst_gpu_device.sh CARRY_DIR
set -u
carry=$(cd "$1" && pwd)
out=${OUT:-/tmp}
if [ -f "$carry/lib.tar.xz" ] && [ ! -d "$carry/lib" ]; then tar -C "$carry" -xJf "$carry/lib.tar.xz"; fi
P=/tmp/edgert_gst_prefix
mkdir -p "$P/plugins"
for f in "$carry"/debs/*.deb; do dpkg -x "$f" "$P"; done
L=$P/usr/lib/x86_64-linux-gnu
for p in coreelements videotestsrc nvcodec; do ln -sf "$L/gstreamer-1.0/libgst$p.so" "$P/plugins/"; done
cudnn=$(python3 -c "import nvidia.cudnn, os; print(os.path.join(os.path.dirname(nvidia.cudnn.__file__), 'lib'))" 2>/dev/null || true)
export LD_LIBRARY_PATH=$carry/lib:$L:$P/lib/x86_64-linux-gnu:${cudnn}:/usr/local/cuda/lib64
export GST_PLUGIN_SYSTEM_PATH=$P/plugins GST_PLUGIN_SCANNER=$L/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if ldd "$carry/build/plugins_gst/plugin/libgstedgert.so" | grep "not found"; then echo "missing libraries"; exit 1; fi
GST_DEBUG=${GST_DEBUG:-edgertinfer:4} bash "$(dirname "$0")/gst_gpu_check.sh" "$carry/build" 2>"$out/gst_gpu_stderr.txt" |
  tee "$out/gst_gpu_check.txt"
rc=${PIPESTATUS[0]}
tail -20 "$out/gst_gpu_stderr.txt"
overlay=$carry/build/tests/gst_overlay/edgert_overlay_gpu_tests
if [ -x "$overlay" ]; then
  EDGERT_REQUIRE_GPU=1 "$overlay" > "$out/overlay_gpu_tests.txt" 2>&1 || rc=1
  tail -3 "$out/overlay_gpu_tests.txt"
fi
if [ -d "$carry/models" ]; then
  bash "$(dirname "$0")/gst_gpu_bench.sh" "$carry/build" "$carry/models" 2>&1 | tee "$out/gst_gpu_bench.txt"
fi
exit "$rc"
