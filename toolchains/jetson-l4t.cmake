# Cross toolchain: x86-64 host -> NVIDIA Jetson (aarch64, L4T) with the CUDA backend.
#
# Targets: Jetson AGX/Orin NX/Orin Nano (sm_87) and Jetson Thor (sm_110). Default
# CMAKE_CUDA_ARCHITECTURES "87;110" (sm_110 needs CUDA >= 13.0: CUDA 12.8/12.9 called Thor sm_101).
#
# What it needs on the host:
#   1. Debian's cross compiler: `apt-get install crossbuild-essential-arm64` (aarch64-linux-gnu-g++).
#      L4T r36 (JetPack 6) is Ubuntu 22.04 (glibc 2.35), r38 (JetPack 7) Ubuntu 24.04; gcc 12 links
#      against the sysroot's glibc and libstdc++, so the binaries need nothing newer than the device.
#   2. An L4T sysroot with the JetPack -dev packages (CUDA, cuDNN, and edgert's dependencies:
#      libprotobuf-dev, libflatbuffers-dev, libyaml-cpp-dev, GStreamer -dev for the plugin):
#      the root filesystem of a flashed Jetson, copied with
#        rsync -a --include='/usr/***' --include='/lib/***' --include='/etc/***' --exclude='*' \
#              jetson:/ "$SYSROOT"
#      (then fix absolute symlinks: `symlinks -rc "$SYSROOT"`), or NVIDIA's L4T sample rootfs with
#      the JetPack packages installed into it under qemu. Point EDGERT_SYSROOT (cache or
#      environment variable; JETSON_SYSROOT is read too) at it.
#   3. The host CUDA toolkit of the same version as the sysroot's, with its cross target:
#        targets/aarch64-linux  CUDA 12.x for Orin, JetPack 5/6 (NVIDIA's cuda-cross-aarch64-12-x)
#        targets/sbsa-linux     CUDA 13 for Thor, JetPack 7 (cuda-cross-sbsa-13-x; JetPack 7 builds
#                               Jetson as an SBSA platform)
#      EDGERT_JETSON_CUDA_TARGET picks it (default: sbsa-linux for nvcc >= 13, else aarch64-linux);
#      CUDAToolkit_ROOT or CUDA_HOME picks the toolkit (default /usr/local/cuda). nvcc runs on the
#      host with the cross g++ as its host compiler; cuDNN and cuBLAS come from the sysroot /
#      target directory. Build Orin with CUDA 12 (JetPack 6) as its own configuration:
#        -DCMAKE_CUDA_ARCHITECTURES=87 -DEDGERT_JETSON_CUDA_TARGET=aarch64-linux
#   4. Host programs of the same versions as the sysroot's libraries: protoc, flatc (from the
#      host's packages; the Debian/Ubuntu releases must match closely enough for the generated
#      code to compile against the sysroot's headers).
#
# Configure (the "jetson" preset does the same with EDGERT_SYSROOT from the environment):
#   EDGERT_SYSROOT=/srv/l4t-r36 cmake -G Ninja -S . -B build-jetson \
#     -DCMAKE_TOOLCHAIN_FILE=toolchains/jetson-l4t.cmake -DEDGERT_BUILD_TESTS=OFF
#   cmake --build build-jetson && scripts/make-image.sh --arch arm64 --build-dir build-jetson
#
# Tested here only as far as a configure attempt goes: the development machine has no L4T sysroot
# and no CUDA cross target, so neither a CUDA build nor a run on a Jetson has been done with it.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(EDGERT_CROSS_TRIPLE aarch64-linux-gnu)

# --- the sysroot --------------------------------------------------------------------------------
if(NOT EDGERT_SYSROOT)
  if(DEFINED ENV{EDGERT_SYSROOT})
    set(EDGERT_SYSROOT $ENV{EDGERT_SYSROOT})
  elseif(DEFINED ENV{JETSON_SYSROOT})
    set(EDGERT_SYSROOT $ENV{JETSON_SYSROOT})
  endif()
endif()
set(EDGERT_SYSROOT "${EDGERT_SYSROOT}" CACHE PATH "Jetson L4T root filesystem")
if(NOT EDGERT_SYSROOT OR (NOT EXISTS "${EDGERT_SYSROOT}/usr/lib/${EDGERT_CROSS_TRIPLE}/libc.so.6" AND
                            NOT EXISTS "${EDGERT_SYSROOT}/lib/${EDGERT_CROSS_TRIPLE}/libc.so.6"))
  message(FATAL_ERROR "toolchains/jetson-l4t.cmake: EDGERT_SYSROOT='${EDGERT_SYSROOT}' is not an aarch64 L4T root "
                      "filesystem (no [usr/]lib/${EDGERT_CROSS_TRIPLE}/libc.so.6). Set EDGERT_SYSROOT (or JETSON_SYSROOT) "
                      "to a copy of a Jetson's /usr and /lib; see the top of this file.")
endif()
# try_compile projects re-read this file; pass the settings on to them.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGERT_SYSROOT EDGERT_JETSON_CUDA_TARGET EDGERT_WITH_CUDA)
get_property(_edgert_in_try_compile GLOBAL PROPERTY IN_TRY_COMPILE)

find_program(EDGERT_CROSS_CXX ${EDGERT_CROSS_TRIPLE}-g++)
find_program(EDGERT_CROSS_CC ${EDGERT_CROSS_TRIPLE}-gcc)
if(NOT EDGERT_CROSS_CXX OR NOT EDGERT_CROSS_CC)
  message(FATAL_ERROR "${EDGERT_CROSS_TRIPLE}-g++ not found: apt-get install crossbuild-essential-arm64")
endif()
set(CMAKE_C_COMPILER ${EDGERT_CROSS_CC})
set(CMAKE_CXX_COMPILER ${EDGERT_CROSS_CXX})
set(CMAKE_LIBRARY_ARCHITECTURE ${EDGERT_CROSS_TRIPLE})
set(CMAKE_SYSROOT "${EDGERT_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${EDGERT_SYSROOT}")
# Programs (protoc, flatc, nvcc, python3) from the host; libraries, headers, packages from the sysroot.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Libraries' own dependencies (libcudnn -> libcublasLt, GStreamer -> GLib) are resolved in the
# sysroot by the linker.
set(_edgert_rpath_link "-Wl,-rpath-link,${EDGERT_SYSROOT}/usr/lib/${EDGERT_CROSS_TRIPLE}:${EDGERT_SYSROOT}/lib/${EDGERT_CROSS_TRIPLE}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_edgert_rpath_link}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${_edgert_rpath_link}")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "${_edgert_rpath_link}")

set(ENV{PKG_CONFIG_SYSROOT_DIR} "${EDGERT_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${EDGERT_SYSROOT}/usr/lib/${EDGERT_CROSS_TRIPLE}/pkgconfig:${EDGERT_SYSROOT}/usr/lib/pkgconfig:${EDGERT_SYSROOT}/usr/share/pkgconfig")

# --- CUDA -----------------------------------------------------------------------------------------
if(NOT CUDAToolkit_ROOT)
  if(DEFINED ENV{CUDAToolkit_ROOT})
    set(CUDAToolkit_ROOT $ENV{CUDAToolkit_ROOT})
  elseif(DEFINED ENV{CUDA_HOME})
    set(CUDAToolkit_ROOT $ENV{CUDA_HOME})
  else()
    set(CUDAToolkit_ROOT /usr/local/cuda)
  endif()
endif()
if(NOT CMAKE_CUDA_COMPILER AND EXISTS "${CUDAToolkit_ROOT}/bin/nvcc")
  set(CMAKE_CUDA_COMPILER "${CUDAToolkit_ROOT}/bin/nvcc")
endif()
if(NOT EDGERT_JETSON_CUDA_TARGET)
  set(EDGERT_JETSON_CUDA_TARGET aarch64-linux)
  if(EXISTS "${CUDAToolkit_ROOT}/bin/nvcc")
    execute_process(COMMAND "${CUDAToolkit_ROOT}/bin/nvcc" --version OUTPUT_VARIABLE _edgert_nvcc_version
                    ERROR_QUIET)
    if(_edgert_nvcc_version MATCHES "release ([0-9]+)\\." AND CMAKE_MATCH_1 GREATER_EQUAL 13)
      set(EDGERT_JETSON_CUDA_TARGET sbsa-linux)
    endif()
  endif()
endif()
set(EDGERT_JETSON_CUDA_TARGET "${EDGERT_JETSON_CUDA_TARGET}" CACHE STRING
    "CUDA cross target directory name: aarch64-linux (CUDA 12, JetPack 5/6) or sbsa-linux (CUDA 13, JetPack 7)")
set(_edgert_cuda_target_dir "${CUDAToolkit_ROOT}/targets/${EDGERT_JETSON_CUDA_TARGET}")

if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 87 110)
endif()
set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER})
if(EXISTS "${_edgert_cuda_target_dir}/lib")
  # nvcc takes its default include and library paths from targets/<name> instead of the host's.
  set(CMAKE_CUDA_FLAGS_INIT "--target-directory ${EDGERT_JETSON_CUDA_TARGET}")
  # FindCUDAToolkit (CUDA::cudart, CUDA::cublasLt) searches the target directory first.
  set(CUDAToolkit_TARGET_DIR "${_edgert_cuda_target_dir}")
  list(PREPEND CMAKE_FIND_ROOT_PATH "${_edgert_cuda_target_dir}")
elseif(DEFINED EDGERT_WITH_CUDA AND NOT EDGERT_WITH_CUDA)
  # A CPU-only build for the Jetson: keep nvcc out of it.
  set(CMAKE_CUDA_COMPILER "")
elseif(NOT _edgert_in_try_compile)
  # Without the target directory nvcc would compile against the host's x86-64 CUDA: stop here.
  message(FATAL_ERROR "toolchains/jetson-l4t.cmake: ${_edgert_cuda_target_dir} does not exist: install the CUDA "
                      "cross target of the sysroot's CUDA version (NVIDIA's cuda-cross-aarch64-<ver> for "
                      "aarch64-linux, cuda-cross-sbsa-<ver> for sbsa-linux), set CUDAToolkit_ROOT or "
                      "EDGERT_JETSON_CUDA_TARGET, or pass -DEDGERT_WITH_CUDA=OFF for a CPU-only build.")
endif()
