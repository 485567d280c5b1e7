#!/usr/bin/env bash
# Cross build for arm64 and the unit tests under qemu-user: the non-CUDA, non-GStreamer
# configuration, as CI runs it after the native tests (.ci/run).
#   1. Host setup, idempotent (quick when all is present): `dpkg --add-architecture arm64`, then the
#      cross compiler, qemu-user and the arm64 libraries edgert links (protobuf, flatbuffers,
#      GoogleTest, yaml-cpp's runtime) from Debian multiarch. Host tools (protoc, flatc, python3)
#      stay amd64.
#   2. The arm64 -dev packages that cannot be co-installed with their amd64 twins (see
#      toolchains/aarch64-linux-gnu.cmake: libyaml-cpp-dev) are fetched with `apt-get download` and
#      unpacked with `dpkg -x` into build-arm64/extra-root, which the toolchain file searches.
#   3. Configure build-arm64/ with toolchains/aarch64-linux-gnu.cmake, EDGERT_WITH_CUDA=OFF,
#      EDGERT_WITH_GST=OFF; build edgert_unit_tests and edgert (ccache on).
#   4. Run edgert_unit_tests under `qemu-aarch64 -L /` (the multiarch loader; see below). Excluded: the tests
#      that start the edgert CLI as a child process (std::system); without binfmt_misc the host
#      shell cannot exec an arm64 binary. The CLI itself is run under qemu instead (--version,
#      check, run and build on a small model made by the host's python3, against ONNX Runtime).
# Prints the time of each step. Exits non-zero on the first failure.
# Usage: scripts/cross_test.sh [--build-only]   (--build-only: steps 1-3 for edgert_runtime and the
# packaged targets, no tests; scripts/make-image.sh --arch arm64 uses it)
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

# 2. The extra root, refreshed when the versions apt offers change.
extra_root=$build/extra-root
mkdir -p "$build/extra-debs"
stamp="layout 2: $(apt-cache policy "${extra_packages[@]}" 2>/dev/null | grep Candidate | tr -d ' ' | tr '\n' ' ')"
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
  # Every directory holding a shared library (BLAS/LAPACK alternatives, /usr/lib/ogdi/4.1 that
  # libgdal's RUNPATH names, ...), colon-separated: the toolchain's -rpath-link and qemu's
  # LD_LIBRARY_PATH.
  find "$extra_root" \( -name '*.so' -o -name '*.so.*' \) -printf '%h\n' | sort -u | paste -sd: >"$extra_root/.libdirs"
  echo "$stamp" >"$extra_root/.stamp"
fi
step "host setup done"

# 3. Configure and build.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
cmake -G Ninja -S "$root" -B "$build" \
  -DCMAKE_TOOLCHAIN_FILE="$root/toolchains/aarch64-linux-gnu.cmake" \
  -DEDGERT_CROSS_EXTRA_ROOT="$extra_root" \
  -DEDGERT_WITH_CUDA=OFF -DEDGERT_WITH_GST=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST >"$build/configure.log" ||
  { cat "$build/configure.log"; exit 1; }
step "configured $build"
if ((build_only)); then
  cmake --build "$build" -j "$jobs" --target edgert_runtime edgert_builder edgert_onnx_proto edgert
  step "built the packaged targets for arm64"
  exit 0
fi
cmake --build "$build" -j "$jobs" --target edgert_unit_tests edgert
file "$build/builder/edgert" | grep -q "ARM aarch64" || { echo "cross_test.sh: $build/builder/edgert is not an aarch64 binary" >&2; exit 1; }
step "built edgert_unit_tests and edgert for arm64"

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

echo "cross_test.sh: all passed in $(($(date +%s) - start_s)) s"
