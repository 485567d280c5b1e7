#!/usr/bin/env bash
# Firmware image parts for a device: the Debian packages and a root-filesystem overlay.
#
#   scripts/make-image.sh [--arch amd64|arm64] [--build-dir DIR] [--out DIR] [--plans DIR] [--models DIR]
#
# Output in --out (default dist/, git-ignored):
#   edgert-runtime_<v>_<arch>.deb       libedgert_runtime.so.<major>
#   edgert-dev_<v>_<arch>.deb           headers, static builder, CMake package, pkg-config files
#   gstreamer1.0-edgert_<v>_<arch>.deb  the GStreamer plugin and libedgert_gst_meta (when built)
#   edgert-tools_<v>_<arch>.deb         edgert CLI, edgert-app (when built), configs, systemd unit
#   edgert-rootfs-overlay_<v>_<arch>.tar.gz, to untar at the root of the device's filesystem:
#     etc/systemd/system/edgert-app@.service   runs `edgert-app /etc/edgert/%i.yaml`
#     etc/edgert/<name>.yaml                   the application configs of configs/apps/, their
#                                              `config: ../models/X.yaml` made `models/X.yaml`
#     etc/edgert/models/, etc/edgert/labels/   configs/models and configs/labels, each model
#                                              config's `model: ../../build/models/F` made
#                                              `/var/lib/edgert/models/F`
#     var/lib/edgert/models/<files of --models DIR>  the ONNX models (optional; large, so not in git)
#     var/cache/edgert/                        the plan cache (EDGERT_CACHE_DIR of the unit)
#     var/cache/edgert/<files of --plans DIR>  plans built ahead of time for the device (optional;
#                                              `edgert build --cache-dir DIR` on a machine with the
#                                              device's GPU and edgert version writes such a DIR)
#   SHA256SUMS.<arch>
#
# Steps:
#   1. The build tree: amd64 uses --build-dir (default build/, configured with the "default" preset
#      when it does not exist yet); arm64 uses scripts/cross_test.sh --build-only (build-arm64/:
#      the Debian multiarch cross build without CUDA, with the GStreamer plugin and edgert-app).
#   2. Build the packaged targets that exist in that tree (nothing else; an up-to-date tree is not
#      rebuilt).
#   3. CPack (DEB, one package per component; Depends from dpkg-shlibdeps plus the component
#      dependencies, see cmake/EdgertInstall.cmake) into --out.
#   4. The overlay tarball, owned by root, with fixed modes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
arch=amd64
build=
out=$root/dist
plans=
models=
usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --arch) arch=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --plans) plans=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "make-image.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case $arch in
  amd64|arm64) ;;
  *) echo "make-image.sh: --arch must be amd64 or arm64, not '$arch'" >&2; exit 2 ;;
esac
for dir in "$plans" "$models"; do
  if [[ -n $dir && ! -d $dir ]]; then
    echo "make-image.sh: $dir (--plans / --models) is not a directory" >&2
    exit 2
  fi
done
jobs=${EDGERT_JOBS:-$(nproc)}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}

# 1. The build tree.
if [[ $arch == arm64 ]]; then
  build=${build:-$root/build-arm64}
  EDGERT_CROSS_BUILD_DIR=$build bash "$root/scripts/cross_test.sh" --build-only
else
  build=${build:-$root/build}
  if [[ ! -f $build/CMakeCache.txt ]]; then
    if [[ $build != "$root/build" ]]; then
      echo "make-image.sh: $build is not a configured build tree" >&2
      exit 1
    fi
    (cd "$root" && cmake --preset default)
  fi
fi
build=$(cd "$build" && pwd)
built_arch=$(sed -n 's/^set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[[ -z $built_arch ]] && built_arch=$(dpkg --print-architecture)
if [[ $built_arch != "$arch" ]]; then
  echo "make-image.sh: $build builds for $built_arch, not $arch" >&2
  exit 1
fi

# 2. The packaged targets this tree has.
available=$(cmake --build "$build" --target help | sed -n 's/^\([A-Za-z0-9_.+-]*\): .*/\1/p')
targets=()
for t in edgert_runtime edgert_builder edgert_onnx_proto edgert edgert-app gstedgert edgert_gst_meta; do
  grep -qx -- "$t" <<<"$available" && targets+=("$t")
done
echo "make-image.sh: building ${targets[*]} in $build"
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
for t in edgert-app gstedgert; do
  grep -qx -- "$t" <<<"$available" || echo "make-image.sh: note: $build has no $t target; its files are not packaged"
done

# 3. The Debian packages.
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
rm -f "$out"/*_"${version}"_"$arch".deb "$out/edgert-rootfs-overlay_${version}_$arch.tar.gz"
rm -rf "$build/packages"
(cd "$build" && cpack -G DEB --config CPackConfig.cmake -B "$build/packages" >"$build/packages.log" 2>&1) ||
  { cat "$build/packages.log"; exit 1; }
debs=("$build"/packages/*_"${version}"_"$arch".deb)
[[ -e ${debs[0]} ]] || { echo "make-image.sh: cpack wrote no .deb for $arch" >&2; cat "$build/packages.log"; exit 1; }
cp "${debs[@]}" "$out/"

# 4. The root-filesystem overlay.
stage=$build/rootfs-overlay
rm -rf "$stage"
install -d -m 0755 "$stage/etc/systemd/system" "$stage/etc/edgert/models" "$stage/etc/edgert/labels" \
  "$stage/var/cache/edgert" "$stage/var/lib/edgert/models"
install -m 0644 "$root/packaging/systemd/edgert-app@.service" "$stage/etc/systemd/system/"
# The configs of the repository name each other and the models relative to the repository layout;
# on the device they live in /etc/edgert and the models in /var/lib/edgert/models.
shopt -s nullglob
app_configs=("$root"/configs/apps/*.yaml)
for config in "${app_configs[@]}"; do
  sed -E 's#^([[:space:]]*config:[[:space:]]*)\.\./models/#\1models/#' "$config" >"$stage/etc/edgert/$(basename "$config")"
done
for config in "$root"/configs/models/*.yaml; do
  sed -E 's#^model:[[:space:]]*\.\./\.\./build/models/#model: /var/lib/edgert/models/#' "$config" \
    >"$stage/etc/edgert/models/$(basename "$config")"
done
for label in "$root"/configs/labels/*; do
  install -m 0644 "$label" "$stage/etc/edgert/labels/"
done
shopt -u nullglob
((${#app_configs[@]})) || echo "make-image.sh: note: configs/apps/ has no *.yaml; etc/edgert/ has no app config"
if [[ -n $plans ]]; then
  cp -R "$plans"/. "$stage/var/cache/edgert/"
fi
if [[ -n $models ]]; then
  cp -R "$models"/. "$stage/var/lib/edgert/models/"
fi
find "$stage" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
overlay=$out/edgert-rootfs-overlay_${version}_$arch.tar.gz
tar --owner=0 --group=0 --numeric-owner --sort=name -C "$stage" -czf "$overlay" etc var

(cd "$out" && sha256sum ./*_"${version}"_"$arch".deb "$(basename "$overlay")" >"SHA256SUMS.$arch")
echo "make-image.sh: wrote to $out:"
for f in "$out"/*_"${version}"_"$arch".deb; do
  printf '  %-48s %s\n' "$(basename "$f")" "$(dpkg-deb -f "$f" Depends)"
done
echo "  $(basename "$overlay")"
tar -tzf "$overlay" | sed 's/^/    /'
