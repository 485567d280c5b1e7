#!/usr/bin/env bash
# Installs what building and testing edgert needs on Debian 12 (bookworm) or a derivative:
# Debian packages for the build, PyPI packages for the test oracles (ONNX's backend node tests and
# ONNX Runtime). Idempotent: it checks first and installs only what is missing, so a second run
# takes about a second and touches nothing. Non-interactive; runs apt-get as root (via sudo when
# the caller is not root). Prints what it installed.
set -euo pipefail

# 1. The Debian packages. OpenCV: only the three modules edgert uses (libopencv-dev pulls ~370).
apt_packages=(
  cmake ninja-build g++ pkg-config ccache python3 python3-pip
  protobuf-compiler libprotobuf-dev libonnx-dev
  flatbuffers-compiler libflatbuffers-dev
  libyaml-cpp-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-x
  libgstrtspserver-1.0-dev gstreamer1.0-plugins-ugly
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  googletest libgtest-dev
  clang libclang-rt-14-dev valgrind
  locales
  dpkg-dev file
)
# 2. The PyPI packages: module name, pip requirement, and the version the module must report
#    (empty: any). onnx 1.16.2 is the last release whose wheel ships the backend node test data.
#    ml_dtypes: onnxruntime.quantization imports it (the Q/DQ model generators of the unit tests use
#    quantize_static) but recent onnxruntime wheels do not depend on it.
pip_modules=(onnx numpy onnxruntime ml_dtypes)
pip_requirements=("onnx==1.16.2" "numpy" "onnxruntime" "ml_dtypes")
pip_versions=("1.16.2" "" "" "")

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  echo "setup.sh: not root and sudo is missing; run it as root" >&2
  exit 1
fi

installed_any=0

# 3. Debian packages: ask dpkg which are missing; update the index only if something is.
missing_apt=()
for pkg in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing_apt+=("$pkg")
  fi
done
if ((${#missing_apt[@]})); then
  echo "setup.sh: installing Debian packages: ${missing_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -q
  "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing_apt[@]}"
  installed_any=1
fi

# 3b. A locale with a decimal comma (de_DE.UTF-8), so that the JSON writer's test that the process
#     locale does not change its numbers runs instead of skipping.
if ! locale -a 2>/dev/null | grep -qiE '^de_DE\.utf-?8$'; then
  echo "setup.sh: generating the de_DE.UTF-8 locale"
  "${as_root[@]}" sed -i -E 's/^# *(de_DE\.UTF-8 UTF-8)/\1/' /etc/locale.gen
  grep -qE '^de_DE\.UTF-8 UTF-8' /etc/locale.gen || echo "de_DE.UTF-8 UTF-8" | "${as_root[@]}" tee -a /etc/locale.gen >/dev/null
  "${as_root[@]}" locale-gen >/dev/null
  installed_any=1
fi

# 4. PyPI packages, checked by importing them with the interpreter the tests use.
missing_pip=()
for i in "${!pip_modules[@]}"; do
  module=${pip_modules[$i]}
  want=${pip_versions[$i]}
  if ! python3 - "$module" "$want" >/dev/null 2>&1 <<'PY'
import importlib, sys
module = importlib.import_module(sys.argv[1])
if sys.argv[2] and module.__version__ != sys.argv[2]:
    sys.exit(1)
PY
  then
    missing_pip+=("${pip_requirements[$i]}")
  fi
done
if ((${#missing_pip[@]})); then
  echo "setup.sh: installing PyPI packages: ${missing_pip[*]}"
  pip_args=(install --quiet --disable-pip-version-check)
  # Debian marks its system Python as externally managed (PEP 668); outside a virtual
  # environment, pip then needs --break-system-packages to install into it.
  if python3 - <<'PY'
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if (os.path.exists(marker) and not in_venv) else 1)
PY
  then
    pip_args+=(--break-system-packages)
  fi
  if [[ $(id -u) -ne 0 ]] && ! python3 -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
    : # inside a virtual environment: install into it
  elif [[ $(id -u) -ne 0 ]]; then
    pip_args+=(--user)
  fi
  python3 -m pip "${pip_args[@]}" "${missing_pip[@]}"
  installed_any=1
fi

if ((installed_any)); then
  echo "setup.sh: done"
else
  echo "setup.sh: all dependencies present, nothing installed"
fi
