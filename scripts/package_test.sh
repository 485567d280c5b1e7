#!/usr/bin/env bash
# ctest "packaging": the amd64 Debian packages and the overlay from an already-built tree, unpacked
# into a scratch root and used from there (no dpkg database, no root needed).
#   1. A small model (tests/models/make_models.py --only resnet) and a CPU plan built with the
#      tree's CLI, as the prebuilt plans to put into the overlay.
#   2. scripts/make-image.sh --arch amd64 --build-dir BUILD --out WORK/dist --plans WORK/plans.
#   3. Package contents and metadata: edgert-runtime holds only libedgert_runtime.so.<major>; the
#      other packages depend on edgert-runtime (= version); every package `dpkg -x`es into ROOT.
#   4. From ROOT (LD_LIBRARY_PATH=ROOT/usr/lib/<multiarch>): `edgert --version`; the packaged CLI
#      builds a plan, a program compiled against the packaged dev files
#      (`pkg-config --cflags --libs edgert-runtime`, tests/consumer/consumer.cc) runs it with the
#      packaged runtime; `gst-inspect-1.0 edgertinfer` (GST_PLUGIN_SYSTEM_PATH into ROOT) must load
#      the plugin from ROOT; `edgert-app CONFIG --validate` on every packaged app config and every
#      device config of the overlay (--skip-file-checks: the real models are not in the repository),
#      and on the overlay's test_pattern.yaml with its files checked (a stand-in model passed with
#      make-image.sh --models). Each skipped with a message when the tree has no plugin / app yet.
#   5. The overlay holds the systemd unit (running edgert-app on /etc/edgert/%i.yaml), etc/edgert,
#      var/cache/edgert with the prebuilt plan and var/lib/edgert/models, all owned by root.
# Usage: package_test.sh --build-dir BUILD --work WORK
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
while (($#)); do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "package_test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
fail() { echo "packaging: FAIL: $*" >&2; exit 1; }
skip() { echo "packaging: SKIP: $*"; }

rm -rf "$work"
mkdir -p "$work/plans"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")

# 1. Model and prebuilt plan.
python3 "$root/tests/models/make_models.py" "$work/models" --only resnet --input-seed 5 >/dev/null
model=$work/models/resnet/model.onnx
"$build/builder/edgert" build "$model" --device cpu -o "$work/plans/resnet.plan" >/dev/null
# A stand-in for configs/models/resnet50.yaml's model (the real export is not in the repository).
mkdir -p "$work/models-standin"
cp "$model" "$work/models-standin/resnet50.onnx"

# 2. Packages and overlay.
bash "$root/scripts/make-image.sh" --arch amd64 --build-dir "$build" --out "$work/dist" --plans "$work/plans" \
  --models "$work/models-standin"
dist=$work/dist
deb() { echo "$dist/${1}_${version}_amd64.deb"; }

# 3. Contents and metadata.
for pkg in edgert-runtime edgert-dev edgert-tools; do
  [[ -f $(deb $pkg) ]] || fail "$(deb $pkg) was not written"
done
runtime_files=$(dpkg-deb -c "$(deb edgert-runtime)" | awk '{print $6}' | grep -v '/$')
while read -r f; do
  [[ $f == ./usr/lib/$multiarch/libedgert_runtime.so.* ]] || fail "edgert-runtime ships $f"
done <<<"$runtime_files"
dpkg-deb -f "$(deb edgert-runtime)" Depends | grep -q 'libc6' || fail "edgert-runtime: no libc6 in Depends (dpkg-shlibdeps)"
for pkg in edgert-dev edgert-tools gstreamer1.0-edgert; do
  [[ -f $(deb $pkg) ]] || continue
  depends=$(dpkg-deb -f "$(deb $pkg)" Depends)
  echo "$pkg Depends: $depends"
  grep -q "edgert-runtime (= $version)" <<<"$depends" || fail "$pkg does not depend on edgert-runtime (= $version)"
done
dev_files=$(dpkg-deb -c "$(deb edgert-dev)")
for f in cmake/edgert/edgertConfig.cmake cmake/edgert/edgertTargets.cmake pkgconfig/edgert-runtime.pc \
  pkgconfig/edgert.pc libedgert_builder.a libedgert_runtime.so include/edgert/engine.h include/edgert/version.h \
  include/edgert/builder.h; do
  grep -q "$f" <<<"$dev_files" || fail "edgert-dev lacks $f"
done
tools_files=$(dpkg-deb -c "$(deb edgert-tools)")
grep -q "lib/systemd/system/edgert-app@.service" <<<"$tools_files" || fail "edgert-tools lacks the systemd unit"

scratch=$work/root
for f in "$dist"/*_"${version}"_amd64.deb; do
  dpkg -x "$f" "$scratch"
done
libdir=$scratch/usr/lib/$multiarch
export LD_LIBRARY_PATH=$libdir

# 4. The tools from the scratch root.
resolved=$(ldd "$scratch/usr/bin/edgert" | grep libedgert_runtime)
[[ $resolved == *"$libdir/libedgert_runtime.so"* ]] || fail "the packaged edgert resolves '$resolved', not the scratch root's"
got=$("$scratch/usr/bin/edgert" --version)
[[ $got == "edgert $version" ]] || fail "edgert --version printed '$got', expected 'edgert $version'"
echo "packaging: edgert --version: $got"

"$scratch/usr/bin/edgert" build "$model" --device cpu -o "$work/packaged.plan" >/dev/null
pc_flags=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs edgert-runtime)
[[ $pc_flags == *"-I$libdir/pkgconfig/../../../include"* || $pc_flags == *"-I$scratch/usr/include"* ]] ||
  fail "pkg-config edgert-runtime does not point into the scratch root: $pc_flags"
# shellcheck disable=SC2086
c++ -std=c++17 -O1 -o "$work/consumer" "$root/tests/consumer/consumer.cc" $pc_flags
out=$("$work/consumer" "$work/packaged.plan" 11) || { echo "$out"; fail "the consumer failed on the packaged CLI's plan"; }
echo "$out"
grep -qE "^output logits float32 1x10 finite=10/10 sum=" <<<"$out" || fail "unexpected consumer output"

plugin_dir=$libdir/gstreamer-1.0
if [[ -f $(deb gstreamer1.0-edgert) ]]; then
  [[ -f $plugin_dir/libgstedgert.so ]] || fail "gstreamer1.0-edgert has no $plugin_dir/libgstedgert.so"
  inspect=$(GST_REGISTRY=$work/gst-registry.bin GST_PLUGIN_SYSTEM_PATH=$plugin_dir:/usr/lib/$multiarch/gstreamer-1.0 \
    gst-inspect-1.0 edgertinfer 2>&1) || { echo "$inspect"; fail "gst-inspect-1.0 edgertinfer"; }
  grep -q "$plugin_dir/libgstedgert.so" <<<"$inspect" || { echo "$inspect"; fail "edgertinfer was not loaded from the scratch root"; }
  echo "packaging: gst-inspect-1.0 edgertinfer: loaded from $plugin_dir"
else
  skip "no gstreamer1.0-edgert package (the gstedgert target does not exist in $build yet): gst-inspect-1.0 not run"
fi

if [[ -x $scratch/usr/bin/edgert-app ]]; then
  # The packaged example configs parse (their models are not shipped: --skip-file-checks), and so
  # do the overlay's device configs (paths rewritten by make-image.sh). The overlay is unpacked into
  # the scratch root too, which stands in for "/": its absolute model paths are redirected there.
  tar -xzf "$dist/edgert-rootfs-overlay_${version}_amd64.tar.gz" -C "$scratch"
  sed -i "s#^model: /var/lib/edgert/#model: $scratch/var/lib/edgert/#" "$scratch"/etc/edgert/models/*.yaml
  shopt -s nullglob
  configs=("$scratch"/usr/share/edgert/configs/apps/*.yaml "$scratch"/etc/edgert/*.yaml)
  shopt -u nullglob
  if ((${#configs[@]})); then
    for config in "${configs[@]}"; do
      "$scratch/usr/bin/edgert-app" "$config" --validate --skip-file-checks || fail "edgert-app $config --validate --skip-file-checks"
    done
    echo "packaging: edgert-app --validate --skip-file-checks: ${#configs[@]} configs valid"
  else
    skip "no app config in usr/share/edgert/configs/apps or etc/edgert: edgert-app --validate not run"
  fi
  # One device config with every file present: the stand-in model given to make-image.sh --models.
  if [[ -f $scratch/etc/edgert/test_pattern.yaml ]]; then
    "$scratch/usr/bin/edgert-app" "$scratch/etc/edgert/test_pattern.yaml" --validate ||
      fail "edgert-app /etc/edgert/test_pattern.yaml --validate (files checked)"
    echo "packaging: edgert-app --validate /etc/edgert/test_pattern.yaml (model file checked): ok"
  else
    skip "the overlay has no etc/edgert/test_pattern.yaml: no --validate with file checks"
  fi
else
  skip "edgert-tools has no edgert-app (the target does not exist in $build yet): --validate not run"
fi

# 5. The overlay.
overlay=$dist/edgert-rootfs-overlay_${version}_amd64.tar.gz
listing=$(tar -tvzf "$overlay")
for path in etc/systemd/system/edgert-app@.service etc/edgert/ etc/edgert/models/ var/cache/edgert/ \
  var/cache/edgert/resnet.plan var/lib/edgert/models/resnet50.onnx; do
  grep -q " $path\$" <<<"$listing" || fail "the overlay lacks $path"
done
grep -v '^[-d][rwx-]* 0/0 ' <<<"$listing" && fail "the overlay has files not owned by root"
unit=$(tar -xzOf "$overlay" etc/systemd/system/edgert-app@.service)
grep -qx 'ExecStart=/usr/bin/edgert-app /etc/edgert/%i.yaml' <<<"$unit" || fail "the unit does not run edgert-app on /etc/edgert/%i.yaml"
cmp <(tar -xzOf "$overlay" var/cache/edgert/resnet.plan) "$work/plans/resnet.plan" || fail "the overlay's plan differs from --plans"
echo "packaging: OK"
