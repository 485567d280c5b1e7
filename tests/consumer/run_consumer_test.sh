#!/usr/bin/env bash
# ctest install_consumer: the installed edgert as a library user sees it.
#   1. `cmake --install` the build tree's runtime component alone into PREFIX-runtime and check it
#      holds nothing but libedgert_runtime.so.<major> (what a deployed device carries).
#   2. Install runtime + dev into PREFIX (a temporary prefix, not the build tree).
#   3. Write the ResNet-style test model (tests/models/make_models.py --only resnet) and build a
#      CPU plan from it with the freshly built `edgert build`.
#   4. Configure and build tests/consumer against PREFIX (find_package(edgert), CMAKE_PREFIX_PATH)
#      and run it on the plan: its output shape must be the ONNX model's declared output shape and
#      every element finite; the program must load libedgert_runtime from PREFIX. The consumer's
#      own builder program (edgert::builder, static) writes a plan of the model that must give the
#      same output lines (shape and sum) for the same seed.
#   5. The same program compiled with `g++ $(pkg-config --cflags --libs edgert-runtime)` must print
#      the same lines for the same seed; the builder program compiled with `pkg-config ... edgert`
#      must write a plan that does too.
# Usage: run_consumer_test.sh --build-dir B --source-dir S --work W --edgert EDGERT [--python P] [--cxx CXX]
set -euo pipefail

python=python3
cxx=c++
while (($#)); do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --source-dir) src=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --edgert) edgert=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --cxx) cxx=$2; shift 2 ;;
    *) echo "run_consumer_test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
fail() { echo "install_consumer: FAIL: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

# 1. The runtime component alone.
cmake --install "$build" --prefix "$work/prefix-runtime" --component runtime >/dev/null
runtime_files=$(cd "$work/prefix-runtime" && find . -type f -o -type l | sort)
echo "runtime component: $runtime_files"
while read -r f; do
  [[ $f == ./lib*/libedgert_runtime.so.* ]] || fail "the runtime component installs $f (only libedgert_runtime.so.* expected)"
done <<<"$runtime_files"
grep -q 'libedgert_runtime\.so\.[0-9]*$' <<<"$runtime_files" || fail "the runtime component lacks the SONAME link"

# 2. runtime + dev.
for component in runtime dev; do
  cmake --install "$build" --prefix "$prefix" --component "$component" >/dev/null
done
config=$(find "$prefix" -name edgertConfig.cmake)
[[ -n $config ]] || fail "no edgertConfig.cmake under $prefix"
pcdir=$(dirname "$(find "$prefix" -name edgert-runtime.pc)")
libdir=$(dirname "$pcdir")

# 3. Model and plan.
"$python" "$src/tests/models/make_models.py" "$work/models" --only resnet --input-seed 1 >/dev/null
model=$work/models/resnet/model.onnx
"$edgert" build "$model" -o "$work/resnet.plan" --device cpu >/dev/null
expected_shape=$("$python" -c '
import sys, onnx
out = onnx.load(sys.argv[1]).graph.output[0]
print("x".join(str(d.dim_value) for d in out.type.tensor_type.shape.dim))' "$model")
echo "expected output shape (from the ONNX model): $expected_shape"

check_output() {  # $1: label, $2: program output
  local lines
  lines=$(grep '^output ' <<<"$2") || fail "$1 printed no output line"
  [[ $(wc -l <<<"$lines") -eq 1 ]] || fail "$1: expected one output, got: $lines"
  read -r _ _ dtype shape finite _ <<<"$lines"
  [[ $dtype == float32 ]] || fail "$1: output dtype $dtype, expected float32"
  [[ $shape == "$expected_shape" ]] || fail "$1: output shape $shape, expected $expected_shape"
  local count=${finite#finite=}
  [[ ${count%/*} == "${count#*/}" && ${count%/*} -gt 0 ]] || fail "$1: not every output element is finite ($finite)"
}

# 4. CMake package.
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake "${generator[@]}" -S "$src/tests/consumer" -B "$work/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release >"$work/consumer-configure.log" ||
  { cat "$work/consumer-configure.log"; fail "configuring tests/consumer against $prefix"; }
grep -q "edgert 0.* from $prefix" "$work/consumer-configure.log" || fail "find_package(edgert) did not use $prefix"
cmake --build "$work/consumer-build" >"$work/consumer-build.log" 2>&1 ||
  { cat "$work/consumer-build.log"; fail "building tests/consumer"; }
resolved=$(ldd "$work/consumer-build/edgert_consumer" | grep libedgert_runtime || true)
[[ $resolved == *"$libdir/libedgert_runtime.so"* ]] || fail "edgert_consumer resolves libedgert_runtime to '$resolved', not $libdir"
out_cmake=$("$work/consumer-build/edgert_consumer" "$work/resnet.plan" 7) || { echo "$out_cmake"; fail "edgert_consumer (CMake) failed"; }
echo "$out_cmake"
check_output "edgert_consumer (CMake package)" "$out_cmake"
# The installed static builder (edgert::builder) writes a plan of the same network: the same
# outputs for the same inputs.
"$work/consumer-build/edgert_consumer_build" "$model" "$work/resnet-consumer.plan" ||
  fail "edgert_consumer_build (edgert::builder) failed"
out_built=$("$work/consumer-build/edgert_consumer" "$work/resnet-consumer.plan" 7) ||
  { echo "$out_built"; fail "edgert_consumer failed on the plan of edgert_consumer_build"; }
[[ $out_built == "$out_cmake" ]] || fail "the plan of edgert_consumer_build gives '$out_built', the CLI's '$out_cmake'"

# 5. pkg-config.
pc_flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs edgert-runtime) || fail "pkg-config edgert-runtime"
echo "pkg-config --cflags --libs edgert-runtime: $pc_flags"
[[ $(PKG_CONFIG_PATH=$pcdir pkg-config --modversion edgert-runtime) == "$(PKG_CONFIG_PATH=$pcdir pkg-config --modversion edgert)" ]] ||
  fail "edgert.pc and edgert-runtime.pc disagree on the version"
# shellcheck disable=SC2086
"$cxx" -std=c++17 -O1 -o "$work/edgert_consumer_pc" "$src/tests/consumer/consumer.cc" $pc_flags -Wl,-rpath,"$libdir" ||
  fail "compiling tests/consumer/consumer.cc with pkg-config's flags"
out_pc=$("$work/edgert_consumer_pc" "$work/resnet.plan" 7) || { echo "$out_pc"; fail "edgert_consumer (pkg-config) failed"; }
check_output "edgert_consumer (pkg-config)" "$out_pc"
[[ $out_pc == "$out_cmake" ]] || fail "the pkg-config build printed '$out_pc', the CMake build '$out_cmake'"
# edgert.pc: the static builder with its protobuf dependency.
pc_builder_flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs edgert) || fail "pkg-config edgert"
echo "pkg-config --cflags --libs edgert: $pc_builder_flags"
# shellcheck disable=SC2086
"$cxx" -std=c++17 -O1 -o "$work/edgert_consumer_build_pc" "$src/tests/consumer/consumer_build.cc" $pc_builder_flags \
  -Wl,-rpath,"$libdir" || fail "compiling tests/consumer/consumer_build.cc with pkg-config edgert's flags"
"$work/edgert_consumer_build_pc" "$model" "$work/resnet-pc.plan" >/dev/null || fail "edgert_consumer_build (pkg-config) failed"
out_pc_built=$("$work/edgert_consumer_pc" "$work/resnet-pc.plan" 7) || fail "edgert_consumer on the pkg-config builder's plan"
[[ $out_pc_built == "$out_cmake" ]] || fail "the pkg-config builder's plan gives '$out_pc_built', the CLI's '$out_cmake'"
echo "install_consumer: OK"
