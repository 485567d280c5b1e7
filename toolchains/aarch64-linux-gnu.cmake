# Cross toolchain: x86-64 Debian host -> aarch64 (arm64) Debian/Ubuntu-style target, with the target's
# libraries from Debian multiarch. For a Jetson L4T sysroot with CUDA use jetson-l4t.cmake instead.
#
# Host setup (Debian 12 bookworm; scripts/cross_test.sh does all of it):
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install crossbuild-essential-arm64 qemu-user \
#     libprotobuf-dev:arm64 libflatbuffers-dev:arm64 libgtest-dev:arm64 libyaml-cpp0.7:arm64
# Host programs stay amd64: protoc, flatc (the same versions as the arm64 libraries, which
# multiarch guarantees) and python3.
# Not co-installable with their amd64 twins in bookworm, so scripts/cross_test.sh unpacks them into
# a private root (EDGERT_CROSS_EXTRA_ROOT, searched after the system) instead of installing them:
#   libyaml-cpp-dev:arm64   (not Multi-Arch: same; installing it removes libyaml-cpp-dev:amd64)
#   libopencv-*-dev:arm64   (through libgdal32:arm64 they need gdal-plugins:arm64, which is not
#                            Multi-Arch: same; apt would remove the amd64 OpenCV and
#                            libgstreamer-plugins-bad1.0-dev to install it)
#   libgstreamer*-dev:arm64, libglib2.0-dev:arm64 and their runtime libraries (apt would remove the
#                            amd64 GStreamer -dev packages: their gir1.2-* dependencies are not
#                            Multi-Arch: same); with them the arm64 glibconfig.h
# Not needed for arm64 at all: libonnx-dev:arm64 (its libonnxifi:arm64 ships /usr/lib/libonnxifi.so
# outside the multiarch directory, so dpkg refuses it next to the amd64 one); edgert uses only
# onnx/onnx.proto from it, which the amd64 package provides, and links no ONNX library.
#
# Configure:
#   cmake -G Ninja -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake \
#         -DEDGERT_CROSS_EXTRA_ROOT=$PWD/build-arm64/extra-root -DEDGERT_WITH_CUDA=OFF -DEDGERT_WITH_GST=ON
# Test programs run under qemu-user: CMAKE_CROSSCOMPILING_EMULATOR is `qemu-aarch64 -L /` when the
# multiarch libc6:arm64 is installed (it is, as a dependency of the -dev:arm64 packages), else
# `qemu-aarch64 -L /usr/aarch64-linux-gnu` (see EDGERT_QEMU_LD_PREFIX below), so ctest and
# gtest_discover_tests work without binfmt_misc.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(EDGERT_CROSS_TRIPLE aarch64-linux-gnu)
find_program(EDGERT_CROSS_CXX ${EDGERT_CROSS_TRIPLE}-g++)
find_program(EDGERT_CROSS_CC ${EDGERT_CROSS_TRIPLE}-gcc)
if(NOT EDGERT_CROSS_CXX OR NOT EDGERT_CROSS_CC)
  message(FATAL_ERROR "${EDGERT_CROSS_TRIPLE}-g++ not found: install Debian's cross compiler "
                      "(apt-get install crossbuild-essential-arm64)")
endif()
set(CMAKE_C_COMPILER ${EDGERT_CROSS_CC})
set(CMAKE_CXX_COMPILER ${EDGERT_CROSS_CXX})
# Multiarch library directory (CMake also detects it from the compiler; set so find_* and
# GNUInstallDirs agree before the compiler is probed).
set(CMAKE_LIBRARY_ARCHITECTURE ${EDGERT_CROSS_TRIPLE})

# Extra arm64 root for -dev packages unpacked with `dpkg -x` (see above); empty: none.
if(NOT DEFINED EDGERT_CROSS_EXTRA_ROOT AND DEFINED ENV{EDGERT_CROSS_EXTRA_ROOT})
  set(EDGERT_CROSS_EXTRA_ROOT $ENV{EDGERT_CROSS_EXTRA_ROOT})
endif()
set(EDGERT_CROSS_EXTRA_ROOT "${EDGERT_CROSS_EXTRA_ROOT}" CACHE PATH "Extra arm64 root (dpkg -x of -dev packages)")
# try_compile projects re-read this file; pass the variable on to them.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGERT_CROSS_EXTRA_ROOT)

# Target libraries and headers: the host root (multiarch: /usr/lib/aarch64-linux-gnu, the shared
# /usr/include) first, then the extra root. Programs (protoc, flatc, python3) come from the host.
set(CMAKE_FIND_ROOT_PATH /)
if(EDGERT_CROSS_EXTRA_ROOT)
  list(APPEND CMAKE_FIND_ROOT_PATH "${EDGERT_CROSS_EXTRA_ROOT}")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Never the amd64 libraries: the multiarch directory is searched first, and these are not searched
# at all, so a library missing for arm64 fails at configure time instead of at link time.
list(APPEND CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu
     /usr/lib/x86_64-linux-gnu/cmake /usr/lib/x86_64-linux-gnu/pkgconfig)

# pkg-config: the arm64 .pc files only (PKG_CONFIG_LIBDIR replaces the default search path, so the
# host's /usr/lib/x86_64-linux-gnu/pkgconfig is never read; PKG_CONFIG_PATH from the environment is
# dropped for the same reason): the installed multiarch ones, the architecture-independent ones, then
# the extra root's. No PKG_CONFIG_SYSROOT_DIR: it would prefix the flags of the installed .pc files
# as well. Instead scripts/cross_test.sh rewrites the extra root's .pc files when it unpacks them
# (prefix=/usr becomes prefix=<extra root>/usr), so that -I/-L name the extra root: e.g. glib-2.0's
# -I<extra root>/usr/lib/aarch64-linux-gnu/glib-2.0/include, the arm64 glibconfig.h. An extra root
# made by hand needs the same rewrite:
#   find ROOT -path '*/pkgconfig/*.pc' -exec sed -i -E "s#^([A-Za-z_]+=)/usr(/|$)#\1ROOT/usr\2#" {} +
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${EDGERT_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig")
if(EDGERT_CROSS_EXTRA_ROOT)
  set(ENV{PKG_CONFIG_LIBDIR}
      "$ENV{PKG_CONFIG_LIBDIR}:${EDGERT_CROSS_EXTRA_ROOT}/usr/lib/${EDGERT_CROSS_TRIPLE}/pkgconfig:${EDGERT_CROSS_EXTRA_ROOT}/usr/share/pkgconfig")
endif()
unset(ENV{PKG_CONFIG_PATH})
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# Libraries from the extra root are not on the linker's default path: their own dependencies are
# found through -rpath-link to every directory of the extra root that holds a shared library
# (written by scripts/cross_test.sh to .libdirs: BLAS and LAPACK live in their alternatives'
# directories, which `dpkg -x` does not link, and libgdal finds libogdi through its RUNPATH).
# Running the programs needs the same directories on LD_LIBRARY_PATH (cross_test.sh sets it for qemu).
if(EDGERT_CROSS_EXTRA_ROOT)
  set(_edgert_extra_dirs "${EDGERT_CROSS_EXTRA_ROOT}/usr/lib/${EDGERT_CROSS_TRIPLE}:${EDGERT_CROSS_EXTRA_ROOT}/lib/${EDGERT_CROSS_TRIPLE}")
  if(EXISTS "${EDGERT_CROSS_EXTRA_ROOT}/.libdirs")
    file(READ "${EDGERT_CROSS_EXTRA_ROOT}/.libdirs" _edgert_extra_dirs)
    string(STRIP "${_edgert_extra_dirs}" _edgert_extra_dirs)
  endif()
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_edgert_extra_dirs}")
  set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_edgert_extra_dirs}")
  set(CMAKE_MODULE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_edgert_extra_dirs}")
endif()

# qemu's -L prefix holds the dynamic loader. With libc6:arm64 installed (multiarch, pulled in by
# the -dev:arm64 packages) it must be "/": the loader then matches the libc.so.6 it loads from
# /lib/aarch64-linux-gnu. The cross toolchain's own loader (/usr/aarch64-linux-gnu, from
# libc6-arm64-cross, an older 2.36 build) with the multiarch libc.so.6 hangs in pthread_create.
if(EXISTS /lib/ld-linux-aarch64.so.1)
  set(EDGERT_QEMU_LD_PREFIX /)
else()
  set(EDGERT_QEMU_LD_PREFIX /usr/${EDGERT_CROSS_TRIPLE})
endif()
find_program(EDGERT_QEMU_AARCH64 qemu-aarch64)
if(EDGERT_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${EDGERT_QEMU_AARCH64} -L ${EDGERT_QEMU_LD_PREFIX})
endif()
