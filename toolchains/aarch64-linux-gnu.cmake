# Cross toolchain: x86-64 host -> aarch64 Jetson (Orin, sm_87) running L4T (JetPack 5/6).
#
# Host compilers: Debian's multiarch cross g++ (`apt-get install g++-aarch64-linux-gnu`).
# Target libraries: an L4T sysroot, e.g. the root filesystem of a flashed Jetson copied with
# `rsync -a --include='/usr/***' --include='/lib/***' --exclude='*' jetson:/ $SYSROOT`, or
# NVIDIA's L4T sample rootfs with the JetPack -dev packages installed into it. Point
# EDGERT_JETSON_SYSROOT (cache variable or environment variable) at it.
# CUDA: nvcc runs on the host; its target libraries come from the sysroot's
# /usr/local/cuda/targets/aarch64-linux (CUDA's cross "aarch64-linux" target, or the Jetson's own).
# Without a sysroot, the Debian multiarch arm64 libraries are used instead (`dpkg --add-architecture
# arm64`, then e.g. `apt-get install libprotobuf-dev:arm64 libonnx-dev:arm64 libgtest-dev:arm64`);
# protoc and flatc must then be the same versions on the host.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(EDGERT_CROSS_TRIPLE aarch64-linux-gnu)
find_program(EDGERT_CROSS_CXX ${EDGERT_CROSS_TRIPLE}-g++)
find_program(EDGERT_CROSS_CC ${EDGERT_CROSS_TRIPLE}-gcc)
if(NOT EDGERT_CROSS_CXX OR NOT EDGERT_CROSS_CC)
  message(FATAL_ERROR "${EDGERT_CROSS_TRIPLE}-g++ not found: install Debian's cross compiler "
                      "(apt-get install g++-${EDGERT_CROSS_TRIPLE})")
endif()
set(CMAKE_C_COMPILER ${EDGERT_CROSS_CC})
set(CMAKE_CXX_COMPILER ${EDGERT_CROSS_CXX})

if(NOT DEFINED EDGERT_JETSON_SYSROOT AND DEFINED ENV{EDGERT_JETSON_SYSROOT})
  set(EDGERT_JETSON_SYSROOT $ENV{EDGERT_JETSON_SYSROOT})
endif()
set(EDGERT_JETSON_SYSROOT "${EDGERT_JETSON_SYSROOT}" CACHE PATH "Jetson L4T root filesystem (empty: none)")
# try_compile projects re-read this file; pass the sysroot on to them.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGERT_JETSON_SYSROOT)

if(EDGERT_JETSON_SYSROOT)
  if(NOT EXISTS "${EDGERT_JETSON_SYSROOT}/usr/lib/${EDGERT_CROSS_TRIPLE}")
    message(FATAL_ERROR "EDGERT_JETSON_SYSROOT=${EDGERT_JETSON_SYSROOT} has no usr/lib/${EDGERT_CROSS_TRIPLE}: "
                        "it is not an aarch64 L4T root filesystem")
  endif()
  set(CMAKE_SYSROOT "${EDGERT_JETSON_SYSROOT}")
  set(CMAKE_FIND_ROOT_PATH "${EDGERT_JETSON_SYSROOT}")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${EDGERT_JETSON_SYSROOT}")
  set(ENV{PKG_CONFIG_LIBDIR}
      "${EDGERT_JETSON_SYSROOT}/usr/lib/${EDGERT_CROSS_TRIPLE}/pkgconfig:${EDGERT_JETSON_SYSROOT}/usr/share/pkgconfig")
  set(_edgert_target_cuda "${EDGERT_JETSON_SYSROOT}/usr/local/cuda/targets/aarch64-linux")
else()
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${EDGERT_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig")
  set(_edgert_target_cuda "/usr/local/cuda/targets/aarch64-linux")
endif()

# Programs (protoc, flatc, nvcc) come from the host; libraries and headers from the target.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# CUDA: Orin is sm_87; nvcc uses the cross g++ as its host compiler.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 87)
endif()
set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER})
if(EXISTS "${_edgert_target_cuda}")
  set(CUDAToolkit_TARGET_DIR "${_edgert_target_cuda}")
  set(CMAKE_CUDA_FLAGS_INIT "-L${_edgert_target_cuda}/lib")
endif()
