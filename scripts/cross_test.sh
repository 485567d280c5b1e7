#!/usr/bin/env bash
# Cross build for arm64 and its tests under qemu-user: the non-CUDA configuration with the GStreamer
# plugin and edgert-app, as CI runs it after the native tests (.ci/run).
#   1. Host setup, idempotent (quick when all is present): `dpkg --add-architecture arm64`, then the
#      cross compiler, qemu-user and the arm64 libraries edgert links (protobuf, flatbuffers,
#      GoogleTest, yaml-cpp's runtime) from Debian multiarch. Host tools (protoc, flatc, python3)
#      stay amd64.
#   2. The arm64 packages that cannot be co-installed with their amd64 twins (see
#      toolchains/aarch64-linux-gnu.cmake: libyaml-cpp-dev, OpenCV, GStreamer and GLib) are fetched
#      with `apt-get download` and unpacked with `dpkg -x` into build-arm64/extra-root, which the
#      toolchain file searches. Their pkg-config files are rewritten to name the extra root
#      (prefix=/usr becomes prefix=<extra-root>/usr), so that the toolchain's PKG_CONFIG_LIBDIR (arm64
#      .pc files only) resolves the system's multiarch .pc files and these alike. Refreshed when the
#      versions apt offers change (the stamp lists every package and version).
#   3. Configure build-arm64/ with toolchains/aarch64-linux-gnu.cmake, EDGERT_WITH_CUDA=OFF,
#      EDGERT_WITH_GST=ON; build edgert_unit_tests, edgert, the GStreamer plugin (gstedgert, with
#      edgert_gst_meta) and edgert-app (ccache on); `file` must call each of them ARM aarch64.
#   4. Run edgert_unit_tests under `qemu-aarch64 -L /` (the multiarch loader; see below). Excluded: the tests
#      that start the edgert CLI as a child process (std::system); without binfmt_misc the host
#      shell cannot exec an arm64 binary. The CLI itself is run under qemu instead (--version,
#      check, run and build on a small model made by the host's python3, against ONNX Runtime).
#   5. GStreamer under qemu, with the arm64 gstreamer1.0-tools and core/base plugins of the extra root
#      (GST_REGISTRY_FORK=no: the registry is scanned in-process, as the host cannot exec the arm64
#      gst-plugin-scanner; a private registry file in the build tree): gst-inspect-1.0 edgertinfer
#      and edgertoverlay from the cross-built plugin, `edgert-app --validate` and --print-pipeline
#      (every element factory exists) on configs/apps/test_pattern.yaml, and a gst-launch-1.0 of
#      videotestsrc ! edgertinfer device=cpu ! fakesink on a small classifier made by
#      tests/gst/make_models.py, which must report results.
# Prints the time of each step. Exits non-zero on the first failure.
# Usage: scripts/cross_test.sh [--build-only]   (--build-only: steps 1-3 for the packaged targets
# (edgert_runtime, edgert_builder, edgert_onnx_proto, edgert, gstedgert, edgert_gst_meta,
# edgert-app), no tests; scripts/make-image.sh --arch arm64 uses it)
# Environment: EDGERT_JOBS (default nproc), EDGERT_CROSS_BUILD_DIR (default build-arm64),
# EDGERT_CROSS_SKIP_SETUP=1 (the host is set up already; do not call apt-get).
set -euo pipefail

build_only=0
case ${1:-} in
  --build-only) build_only=1 ;;
  "") ;;
  *) echo "cross_test.sh: unknown argument '$1' (usage: cross_test.sh [--build-only])" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${EDGERT_CROSS_BUILD_DIR:-$root/build-arm64}
mkdir -p "$build"
build=$(cd "$build" && pwd)
jobs=${EDGERT_JOBS:-$(nproc)}
triple=aarch64-linux-gnu
start_s=$(date +%s)
step_s=$start_s
step() {
  local now
  now=$(date +%s)
  echo "cross_test.sh: $1 ($((now - step_s)) s)"
  step_s=$now
}

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  as_root=(false)
fi

# 1. Host packages. Co-installable (Multi-Arch: same, same version as the amd64 package; apt may
#    upgrade the amd64 twin to the arm64 package's version).
apt_packages=(
  crossbuild-essential-arm64 qemu-user
  libprotobuf-dev:arm64 libflatbuffers-dev:arm64 libgtest-dev:arm64 libyaml-cpp0.7:arm64
)
# Before anything asks apt about arm64 packages (the extra root's closures below): on a fresh machine
# the arm64 package lists exist only after `dpkg --add-architecture arm64` and `apt-get update`.
if [[ -z ${EDGERT_CROSS_SKIP_SETUP:-} ]]; then
  export DEBIAN_FRONTEND=noninteractive
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "cross_test.sh: dpkg --add-architecture arm64"
    "${as_root[@]}" dpkg --add-architecture arm64
    "${as_root[@]}" apt-get update -q
  fi
  missing=()
  for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "cross_test.sh: installing ${missing[*]}"
    "${as_root[@]}" apt-get update -q
    "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi
for tool in $triple-g++ qemu-aarch64 protoc flatc; do
  command -v "$tool" >/dev/null || { echo "cross_test.sh: $tool is missing" >&2; exit 1; }
done
# Unpacked into the extra root instead (not co-installable in bookworm):
#   - libyaml-cpp-dev (not Multi-Arch: same);
#   - OpenCV (core, imgproc, imgcodecs, used by edgert_vision): libopencv-imgcodecs406:arm64 needs
#     libgdal32:arm64, which needs gdal-plugins:arm64, which replaces gdal-plugins:amd64 and with it
#     the amd64 OpenCV and GStreamer -dev packages. Unpacked: the three -dev packages,
#     libopencv-dev (OpenCVConfig.cmake), every module's runtime library (OpenCVModules.cmake
#     checks that each exists) and the arm64 runtime closure of libopencv-imgcodecs406 that is not
#     installed (to link and run the CLI, which reads images for INT8 calibration).
extra_packages=(libyaml-cpp-dev:arm64 libyaml-cpp0.7:arm64)
opencv_packages() {
  local p
  {
    printf '%s\n' libopencv-dev libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
    apt-cache pkgnames libopencv- | grep -E '^libopencv-[a-z0-9]+406$'
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
      --no-enhances libopencv-imgcodecs406:arm64 | sed -n 's/^\([a-z0-9][a-z0-9.+-]*\):arm64$/\1/p' |
      grep -vE '^(libopenblas0|libatlas3)'
  } | sort -u | while read -r p; do
    dpkg-query -W -f='${Status}' "$p:arm64" 2>/dev/null | grep -q "install ok installed" || echo "$p:arm64"
  done
}
mapfile -t opencv_extra < <(opencv_packages)
extra_packages+=("${opencv_extra[@]}")
#   - GStreamer and GLib (the plugin and edgert-app): `apt-get install
#     libgstreamer-plugins-base1.0-dev:arm64` removes the amd64 libgstreamer-plugins-base1.0-dev,
#     libgstreamer-plugins-bad1.0-dev and libgstrtspserver-1.0-dev (their gir1.2-* dependencies
#     are not Multi-Arch: same). glib's arch-specific glibconfig.h comes with them, in
#     usr/lib/aarch64-linux-gnu/glib-2.0/include of the extra root. Unpacked: the closure of the
#     Depends (first alternatives) of the -dev packages of gstreamer-1.0, -base, -video, -app and
#     gst-rtsp-server (which edgert-app links when found), of gstreamer1.0-tools (gst-inspect-1.0 and
#     gst-launch-1.0 for step 5) and of gstreamer1.0-plugins-base (videotestsrc, videoconvert,
#     appsink), less what is installed for arm64 and less $gst_prune: host tools (glib's and orc's
#     code generators, pkg-config, python3, perl), GObject introspection data, the GL/Wayland/X11
#     -dev packages (edgert uses no gstreamer-gl) and gst-rtsp-server's runtime Depends on the
#     good/bad plugin sets (not linked).
gst_roots=(libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev gstreamer1.0-tools
           gstreamer1.0-plugins-base)
gst_prune='^(gstreamer1\.0-plugins-(good|bad)|gir1\.2-.*|libglib2\.0-(bin|dev-bin)|pkg-?conf.*|pkg-config|'\
'libpkgconf3|liborc-0\.4-dev-bin|libcap2-bin|libgstreamer-gl1\.0-0|lib(gl|egl|gles|x11-xcb|wayland|drm|gbm|'\
'gudev-1\.0)-dev|python3.*|perl.*)$'
# Prints the arm64 Depends closure of $@ (package names without :arm64): breadth first, one apt-cache
# call per level, the first alternative of each OR group (a virtual package: its first provider),
# arm64 packages only (arch-independent ones are not needed to build or run), never descending into
# $gst_prune.
dep_closure() {
  local -A seen=()
  local frontier=("$@") next p
  while ((${#frontier[@]})); do
    next=()
    for p in "${frontier[@]}"; do
      [[ -n ${seen[$p]:-} ]] && continue
      seen[$p]=1
      echo "$p"
      next+=("$p:arm64")
    done
    ((${#next[@]})) || break
    mapfile -t frontier < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances "${next[@]}" | awk '
        /^[^ ]/ { alt = 0; virt = 0; next }
        /^ *\|?(Pre)?Depends: / { take = !alt; alt = ($0 ~ /^ *\|/); virt = 0
                                  if (!take) next
                                  if ($2 ~ /^</) { virt = 1; next }
                                  print $2; next }
        /^    / { if (virt) { print $1; virt = 0 } next }' |
      sed -n 's/^\([a-z0-9][a-z0-9.+-]*\):arm64$/\1/p' | grep -vE "$gst_prune" | sort -u)
  done
}
# The closure takes one apt-cache call per level (seconds): cached in the build tree, keyed by the
# apt package lists (apt-get update changes them) and the roots.
gst_packages() {
  local cache=$build/extra-debs/gst-closure.txt key p
  key=$( { printf '%s\n' "${gst_roots[@]}" "$gst_prune"; stat -c '%n %s %Y' /var/lib/apt/lists/*_Packages* 2>/dev/null; } | md5sum | cut -d' ' -f1)
  if [[ ! -f $cache || $(head -n1 "$cache") != "$key" ]]; then
    mkdir -p "$build/extra-debs"
    { echo "$key"; dep_closure "${gst_roots[@]}" | sort -u; } >"$cache.tmp"
    mv "$cache.tmp" "$cache"
  fi
  tail -n +2 "$cache" | while read -r p; do
    dpkg-query -W -f='${Status}' "$p:arm64" 2>/dev/null | grep -q "install ok installed" || echo "$p:arm64"
  done
}
mapfile -t gst_extra < <(gst_packages)
extra_packages+=("${gst_extra[@]}")


# 2. The extra root, refreshed when the versions apt offers change.
extra_root=$build/extra-root
mkdir -p "$build/extra-debs"
# The stamp: the layout, the extra root's path (the rewritten .pc files name it), every package and the
# version apt offers for it.
stamp="layout 3: $extra_root: $(apt-cache policy "${extra_packages[@]}" 2>/dev/null |
  awk '/^[^ ]/ { name = $1 } /Candidate:/ { printf "%s=%s ", name, $2 }')"
if [[ ! -f $extra_root/.stamp || $(cat "$extra_root/.stamp") != "$stamp" ]]; then
  rm -rf "$extra_root" "$build/extra-debs"/*.deb
  # The linker flags naming the extra root's directories are cached at the first configure.
  rm -f "$build/CMakeCache.txt"
  mkdir -p "$extra_root"
  echo "cross_test.sh: unpacking ${#extra_packages[@]} arm64 packages into $extra_root"
  (cd "$build/extra-debs" && apt-get download -q -o APT::Sandbox::User=root "${extra_packages[@]}" >/dev/null)
  for deb in "$build/extra-debs"/*.deb; do
    dpkg -x "$deb" "$extra_root"
  done
  rm -f "$build/extra-debs"/*.deb
  # Absolute symbolic links (a -dev package's libX.so -> /lib/aarch64-linux-gnu/libX.so.N) point
  # into the extra root instead.
  find "$extra_root" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
    ln -sfn "$extra_root$(readlink "$link")" "$link"
  done
  # pkg-config files: prefix=/usr (and any other variable that starts with /usr) names the extra
  # root, so that they resolve next to the system's multiarch .pc files without a
  # PKG_CONFIG_SYSROOT_DIR (which would apply to both).
  find "$extra_root" -path '*/pkgconfig/*.pc' -type f -exec \
    sed -i -E "s#^([A-Za-z_][A-Za-z0-9_]*=)/usr(/|\$)#\1$extra_root/usr\2#" {} +
  # Every directory holding a shared library (BLAS/LAPACK alternatives, /usr/lib/ogdi/4.1 that
  # libgdal's RUNPATH names, ...), colon-separated: the toolchain's -rpath-link and qemu's
  # LD_LIBRARY_PATH.
  # Not the plugin directories (GStreamer's, GIO's modules): they are loaded by path.
  find "$extra_root" \( -name '*.so' -o -name '*.so.*' \) -printf '%h\n' | sort -u |
    grep -vE '/(gstreamer-1\.0|gio/modules)$' | paste -sd: >"$extra_root/.libdirs"
  echo "$stamp" >"$extra_root/.stamp"
fi
step "host setup done"

# 3. Configure and build.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
cmake -G Ninja -S "$root" -B "$build" \
  -DCMAKE_TOOLCHAIN_FILE="$root/toolchains/aarch64-linux-gnu.cmake" \
  -DEDGERT_CROSS_EXTRA_ROOT="$extra_root" \
  -DEDGERT_WITH_CUDA=OFF -DEDGERT_WITH_GST=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST >"$build/configure.log" ||
  { cat "$build/configure.log"; exit 1; }
step "configured $build"
# The GStreamer targets must exist: a configure that silently lost them would package no plugin.
gst_targets=(gstedgert edgert_gst_meta edgert-app)
available=$(cmake --build "$build" --target help | sed -n 's/^\([A-Za-z0-9_.+-]*\): .*/\1/p')
for t in "${gst_targets[@]}"; do
  grep -qx -- "$t" <<<"$available" ||
    { echo "cross_test.sh: the arm64 configure has no $t target (see $build/configure.log)" >&2; exit 1; }
done
# Each built program and plugin must be an aarch64 ELF file.
check_arm64() {
  local f
  for f in "$@"; do
    file -L "$f" | grep -q "ARM aarch64" || { echo "cross_test.sh: $f is not an aarch64 ELF file: $(file -L "$f")" >&2; exit 1; }
  done
}
arm64_files=("$build/builder/edgert" "$build/plugins_gst/plugin/libgstedgert.so"
             "$build/plugins_gst/libedgert_gst_meta.so" "$build/pipelines/edgert-app")
if ((build_only)); then
  cmake --build "$build" -j "$jobs" --target edgert_runtime edgert_builder edgert_onnx_proto edgert "${gst_targets[@]}"
  check_arm64 "${arm64_files[@]}"
  step "built the packaged targets for arm64 (edgert, the GStreamer plugin, edgert-app)"
  exit 0
fi
cmake --build "$build" -j "$jobs" --target edgert_unit_tests edgert "${gst_targets[@]}"
check_arm64 "${arm64_files[@]}" "$build/tests/edgert_unit_tests"
step "built edgert_unit_tests, edgert, the GStreamer plugin and edgert-app for arm64"

# 4. Run under qemu-user.
# The loader must match the libc.so.6 it loads: with the multiarch libc6:arm64 installed (step 1
# installs it) that is /lib/ld-linux-aarch64.so.1, so the prefix is "/"; the cross toolchain's
# older loader in /usr/aarch64-linux-gnu with the multiarch libc hangs in pthread_create.
qemu_prefix=/usr/$triple
[[ -e /lib/ld-linux-aarch64.so.1 ]] && qemu_prefix=/
qemu=(qemu-aarch64 -L "$qemu_prefix")
# Libraries of the extra root (see step 2).
QEMU_SET_ENV=LD_LIBRARY_PATH=$(cat "$extra_root/.libdirs")
export QEMU_SET_ENV
version=$("${qemu[@]}" "$build/builder/edgert" --version)
echo "cross_test.sh: $version (arm64 under qemu)"
[[ $version == "edgert $(sed -n 's/^project(edgert VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)" ]] ||
  { echo "cross_test.sh: unexpected version line '$version'" >&2; exit 1; }

# Tests that run the CLI through std::system (the CLI is exercised below under qemu instead): the
# suites named ...Cli, Cli... or ...CliPlan (BuilderCli, BenchCli, CliInt8, BuilderCliPlan).
excluded='*Cli.*:Cli*.*:*CliPlan.*'
"${qemu[@]}" "$build/tests/edgert_unit_tests" --gtest_filter="-$excluded" --gtest_brief=1
step "unit tests passed under qemu-aarch64 (excluded: $excluded)"

# The CLI end to end: the resnet test model and its ONNX Runtime reference outputs, written by the
# host's python3 (tests/models/make_models.py); the arm64 CLI under qemu checks the model, runs it
# on the CPU against the reference (relative L2 <= 1e-4, `edgert run --compare`), builds a plan and
# runs the plan against the same reference.
work=$build/cross-models
rm -rf "$work"
python3 tests/models/make_models.py "$work" --only resnet --input-seed 3 >/dev/null
data=$work/resnet/test_data_set_0
"${qemu[@]}" "$build/builder/edgert" check "$work/resnet/model.onnx" >/dev/null
"${qemu[@]}" "$build/builder/edgert" run "$work/resnet/model.onnx" --device cpu --inputs "$data"/input_0.pb \
  --compare "$data" --rtol 1e-4
"${qemu[@]}" "$build/builder/edgert" build "$work/resnet/model.onnx" --device cpu -o "$work/resnet.plan" >/dev/null
"${qemu[@]}" "$build/builder/edgert" run "$work/resnet.plan" --inputs "$data"/input_0.pb --compare "$data" --rtol 1e-4
step "edgert CLI (arm64, qemu): resnet model and plan match ONNX Runtime"

# 5. GStreamer under qemu: the arm64 gst tools and core/base plugins of the extra root, the
# cross-built plugin. Without binfmt_misc the host cannot exec the arm64 gst-plugin-scanner, so the
# registry is scanned in-process (GST_REGISTRY_FORK=no), into a registry file of the build tree.
gst_libdir=$extra_root/usr/lib/$triple
gst_env=(env -u GST_PLUGIN_PATH -u GST_PLUGIN_SYSTEM_PATH GST_REGISTRY_FORK=no
         GST_REGISTRY_1_0="$build/gst-registry-arm64.bin" GST_PLUGIN_SYSTEM_PATH_1_0="$gst_libdir/gstreamer-1.0"
         GST_PLUGIN_PATH_1_0="$build/plugins_gst/plugin")
gst_bin=$extra_root/usr/bin
gst_work=$build/cross-gst
rm -rf "$gst_work"
mkdir -p "$gst_work"
fail_gst() {
  echo "cross_test.sh: $1 (output: $2)" >&2
  sed 's/^/  | /' "$2" >&2
  exit 1
}
# gst-inspect-1.0: the element loads from the cross-built plugin and lists its properties.
for element in edgertinfer edgertoverlay; do
  out=$gst_work/inspect-$element.txt
  "${gst_env[@]}" "${qemu[@]}" "$gst_bin/gst-inspect-1.0" "$element" >"$out" 2>&1 ||
    fail_gst "arm64 gst-inspect-1.0 $element failed under qemu" "$out"
  grep -q "Filename .*$build/plugins_gst/plugin/libgstedgert.so" "$out" ||
    fail_gst "gst-inspect-1.0 $element: not loaded from $build/plugins_gst/plugin/libgstedgert.so" "$out"
done
for prop in model config device batch-size cache-dir; do
  grep -qE "^  $prop *:" "$gst_work/inspect-edgertinfer.txt" ||
    fail_gst "gst-inspect-1.0 edgertinfer lists no property '$prop'" "$gst_work/inspect-edgertinfer.txt"
done
echo "cross_test.sh: gst-inspect-1.0 edgertinfer, edgertoverlay (arm64, qemu): plugin edgert" \
  "$(sed -n 's/^  Version *//p' "$gst_work/inspect-edgertinfer.txt")"
# edgert-app: the shipped test-pattern config validates (its model is not built here); then
# --print-pipeline initialises GStreamer and checks that every element factory of the pipeline
# (videotestsrc, edgertinfer, ...) exists.
app=$build/pipelines/edgert-app
out=$gst_work/app-validate.txt
"${gst_env[@]}" "${qemu[@]}" "$app" configs/apps/test_pattern.yaml --validate --skip-file-checks >"$out" 2>&1 ||
  fail_gst "edgert-app --validate configs/apps/test_pattern.yaml failed under qemu" "$out"
grep -q "test_pattern.yaml: valid" "$out" || fail_gst "edgert-app --validate printed no 'valid' line" "$out"
cat "$out"
out=$gst_work/app-pipeline.txt
"${gst_env[@]}" "${qemu[@]}" "$app" configs/apps/test_pattern.yaml --print-pipeline --skip-file-checks >"$out" 2>&1 ||
  fail_gst "edgert-app --print-pipeline configs/apps/test_pattern.yaml failed under qemu" "$out"
grep -q "edgertinfer" "$out" || fail_gst "edgert-app --print-pipeline: no edgertinfer in the pipeline" "$out"
# gst-launch-1.0: test frames through edgertinfer on the CPU backend with a small classifier config
# (tests/gst/make_models.py, the host's python3); the session must become ready and the pipeline
# must reach end-of-stream.
python3 tests/gst/make_models.py "$gst_work/models" >/dev/null
out=$gst_work/launch.txt
"${gst_env[@]}" "${qemu[@]}" "$gst_bin/gst-launch-1.0" -m videotestsrc num-buffers=10 ! \
  video/x-raw,format=NV12,width=320,height=240 ! \
  edgertinfer config="$gst_work/models/classifier.yaml" device=cpu cache-dir="$gst_work/cache" ! fakesink \
  >"$out" 2>&1 || fail_gst "arm64 gst-launch-1.0 ... edgertinfer device=cpu ... failed under qemu" "$out"
grep -q 'edgert-build, stage=(string)ready' "$out" || fail_gst "gst-launch-1.0: edgertinfer posted no 'ready' edgert-build message" "$out"
grep -q 'Got EOS from element' "$out" || fail_gst "gst-launch-1.0: the pipeline did not reach end-of-stream" "$out"
grep -o 'edgert-build, stage=(string)ready, backend=(string)[^,]*' "$out" | sed 's/^/cross_test.sh: gst-launch-1.0: /'
# edgert-app end to end: a test pattern through the classifier, --max-frames 5; frames count only
# when they carry results, so the JSON sink must hold 5 lines, each with its classes.
cat >"$gst_work/app.yaml" <<YAML
sources:
  - name: pattern
    uri: test://pattern?pattern=ball
    width: 64
    height: 48
    framerate: 30
inference:
  config: models/classifier.yaml
  device: cpu
  cache-dir: cache
sinks:
  - type: json
    path: results.jsonl
YAML
out=$gst_work/app-run.txt
(cd "$gst_work" && "${gst_env[@]}" "${qemu[@]}" "$app" app.yaml --max-frames 5) >"$out" 2>&1 ||
  fail_gst "edgert-app app.yaml --max-frames 5 failed under qemu" "$out"
lines=$(grep -c '"classes":\[{"id"' "$gst_work/results.jsonl" 2>/dev/null || true)
[[ $lines == 5 ]] || fail_gst "edgert-app: expected 5 JSON lines with classes in results.jsonl, got ${lines:-0}" "$out"
echo "cross_test.sh: edgert-app (arm64, qemu): 5 frames with results, first: $(head -c 160 "$gst_work/results.jsonl")"
step "GStreamer (arm64, qemu): gst-inspect-1.0 edgertinfer/edgertoverlay, edgert-app --validate/--print-pipeline and a 5-frame run, gst-launch-1.0 with edgertinfer device=cpu"

echo "cross_test.sh: all passed in $(($(date +%s) - start_s)) s"
