# Install rules, the CMake package, pkg-config files and the Debian packages (CPack).
# Included at the end of the top-level CMakeLists.txt, once every target exists.
#
# Components (one Debian package each):
#   runtime  edgert-runtime        libedgert_runtime.so.<major> (all a deployed device needs besides plans)
#   dev      edgert-dev            public headers, libedgert_runtime.so, libedgert_builder.a,
#                                  libedgert_onnx_proto.a, edgertConfig.cmake + edgertTargets,
#                                  edgert-runtime.pc, edgert.pc
#   gst      gstreamer1.0-edgert   lib/<multiarch>/gstreamer-1.0/libgstedgert.so, libedgert_gst_meta
#   tools    edgert-tools          edgert (CLI), edgert-app, share/edgert/configs, the systemd unit
#
# The builder stays a static library (libedgert_builder.a, with the generated ONNX protobuf classes in
# libedgert_onnx_proto.a) in edgert-dev:
#   - a deployed device needs none of it (the runtime never depends on the builder), so a shared
#     builder would be one more package on the device for the CLI alone;
#   - its C++ API (IR, passes, Session) carries no ABI promise between versions; static linking
#     pins every user to the exact version it was built with, like the plans themselves;
#   - a shared builder would export protobuf-generated symbols for onnx.proto, which clash with any
#     other library in the process that compiles the same schema (ONNX Runtime, libonnx).
#   Cost: anything that links it statically must not be loaded twice into one process with another
#   static copy (protobuf registers onnx.proto once per process and aborts on a second copy): the
#   GStreamer plugin carries one, so an application that loads the plugin must not link
#   edgert_builder itself.
#
# Library directory: lib/<multiarch triple> (Debian layout) unless CMAKE_INSTALL_LIBDIR is given,
# so the packages and a plain `cmake --install` agree.
include_guard(GLOBAL)

if(NOT DEFINED CMAKE_INSTALL_LIBDIR AND CMAKE_LIBRARY_ARCHITECTURE AND EXISTS /etc/debian_version)
  set(CMAKE_INSTALL_LIBDIR "lib/${CMAKE_LIBRARY_ARCHITECTURE}" CACHE PATH "Object code libraries (lib/<multiarch>)")
endif()
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(EDGERT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/edgert")
set(EDGERT_INSTALL_GST_PLUGINDIR "${CMAKE_INSTALL_LIBDIR}/gstreamer-1.0")

# --- runtime + dev: the libraries, headers and the CMake package ---------------------------------
set_target_properties(edgert_runtime PROPERTIES EXPORT_NAME runtime)
set_target_properties(edgert_builder PROPERTIES EXPORT_NAME builder)
set_target_properties(edgert_onnx_proto PROPERTIES EXPORT_NAME onnx_proto)

install(TARGETS edgert_runtime
  EXPORT edgertTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS edgert_builder edgert_onnx_proto
  EXPORT edgertTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/edgert ${PROJECT_SOURCE_DIR}/builder/include/edgert
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/runtime/include/edgert/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/edgert COMPONENT dev)

install(EXPORT edgertTargets NAMESPACE edgert:: FILE edgertTargets.cmake
        DESTINATION ${EDGERT_INSTALL_CMAKEDIR} COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/edgertConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/edgertConfig.cmake
  INSTALL_DESTINATION ${EDGERT_INSTALL_CMAKEDIR})
# Same minor version: plans and the builder's C++ API change between minor releases (0.x).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/edgertConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/edgertConfig.cmake ${PROJECT_BINARY_DIR}/cmake/edgertConfigVersion.cmake
        DESTINATION ${EDGERT_INSTALL_CMAKEDIR} COMPONENT dev)

# pkg-config: edgert-runtime.pc (the runtime alone) and edgert.pc (builder + runtime). The prefix is
# found from the .pc file's own place (${pcfiledir}), so the files stay right after
# `cmake --install --prefix` or `dpkg -x` into another root.
set(EDGERT_PC_RUNTIME_CFLAGS "")
set(EDGERT_PC_RUNTIME_LIBS_PRIVATE "")
if(EDGERT_WITH_CUDA)
  list(GET CUDAToolkit_INCLUDE_DIRS 0 _edgert_cuda_include)
  set(EDGERT_PC_RUNTIME_CFLAGS "-DEDGERT_HAVE_CUDA=1 -I${_edgert_cuda_include}")
  set(EDGERT_PC_RUNTIME_LIBS_PRIVATE "-L${CUDAToolkit_LIBRARY_DIR} -lcudart")
endif()
file(RELATIVE_PATH EDGERT_PC_PREFIX_FROM_PCDIR /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" EDGERT_PC_PREFIX_FROM_PCDIR "${EDGERT_PC_PREFIX_FROM_PCDIR}")
foreach(_pc edgert-runtime edgert)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${_pc}.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/${_pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${_pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
          COMPONENT dev)
endforeach()

# --- gst: the plugin and the meta library (targets written in plugins_gst/) -----------------------
if(TARGET gstedgert)
  install(TARGETS gstedgert LIBRARY DESTINATION ${EDGERT_INSTALL_GST_PLUGINDIR} COMPONENT gst)
endif()
if(TARGET edgert_gst_meta)
  install(TARGETS edgert_gst_meta LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT gst
          NAMELINK_COMPONENT dev)
  install(FILES ${PROJECT_SOURCE_DIR}/plugins_gst/include/edgert/gst/edgert_meta.h
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/edgert/gst COMPONENT dev)
endif()

# --- tools: the CLI, the app, configs and the systemd unit ----------------------------------------
# Executables find the libraries of a relocated prefix (e.g. /opt/edgert) next to them.
foreach(_exe edgert edgert-app)
  if(TARGET ${_exe})
    file(RELATIVE_PATH _edgert_bin_to_lib /${CMAKE_INSTALL_BINDIR} /${CMAKE_INSTALL_LIBDIR})
    set_target_properties(${_exe} PROPERTIES INSTALL_RPATH "$ORIGIN/${_edgert_bin_to_lib}")
    install(TARGETS ${_exe} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
  endif()
endforeach()
if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/configs)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/edgert/configs
          COMPONENT tools)
endif()
# The unit names /usr/bin/edgert-app: it is written for the packaged layout (prefix /usr).
install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/edgert-app@.service
        DESTINATION lib/systemd/system COMPONENT tools)

# --- tests of the installed tree (tests/consumer, scripts/package_test.sh) -----------------------
if(EDGERT_BUILD_TESTS AND TARGET edgert)
  add_test(NAME install_consumer
           COMMAND bash ${PROJECT_SOURCE_DIR}/tests/consumer/run_consumer_test.sh
                   --build-dir ${PROJECT_BINARY_DIR} --source-dir ${PROJECT_SOURCE_DIR}
                   --work ${PROJECT_BINARY_DIR}/tests/consumer-work --edgert $<TARGET_FILE:edgert>
                   --python ${EDGERT_PYTHON3} --cxx ${CMAKE_CXX_COMPILER})
  set_tests_properties(install_consumer PROPERTIES LABELS install TIMEOUT 300)
  # Builds the .debs from this tree (no rebuild beyond what is out of date), unpacks them into a
  # scratch root and runs the tools from there.
  add_test(NAME packaging
           COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/package_test.sh --build-dir ${PROJECT_BINARY_DIR}
                   --work ${PROJECT_BINARY_DIR}/tests/package-work)
  set_tests_properties(packaging PROPERTIES LABELS packaging TIMEOUT 600 RESOURCE_LOCK edgert_build_tree)
  set_tests_properties(install_consumer PROPERTIES RESOURCE_LOCK edgert_build_tree)
endif()

# --- CPack: one Debian package per component -------------------------------------------------------
set(CPACK_PACKAGE_NAME edgert)
set(CPACK_PACKAGE_VENDOR "edgert")
set(CPACK_PACKAGE_CONTACT "edgert maintainers <edgert@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "ONNX to plan inference builder and runtime for NVIDIA Jetson")
set(CPACK_PACKAGE_HOMEPAGE_URL "https://example.invalid/edgert")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
# Stripped binaries (the build tree keeps the debug information).
set(CPACK_STRIP_FILES ON)
# The target architecture: dpkg's name for the cross target, else the host's (CPack's default).
if(CMAKE_CROSSCOMPILING AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
endif()

set(CPACK_COMPONENTS_ALL runtime dev tools)
if(TARGET gstedgert)
  list(APPEND CPACK_COMPONENTS_ALL gst)
endif()
# dpkg-shlibdeps computes Depends from the ELF files (libc6, libstdc++6, libprotobuf32, GStreamer,
# CUDA where it is packaged); libedgert_runtime.so.0 is found in the build tree and resolved to
# edgert-runtime through the shlibs file that edgert-runtime generates, and the component
# dependencies below pin the exact version as well.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR}/runtime)
if(TARGET edgert_gst_meta)
  # The plugin and edgert-app need libedgert_gst_meta; where the build puts it (CPack's config is
  # not a generator-expression context).
  get_target_property(_edgert_meta_dir edgert_gst_meta LIBRARY_OUTPUT_DIRECTORY)
  if(NOT _edgert_meta_dir)
    get_target_property(_edgert_meta_dir edgert_gst_meta BINARY_DIR)
  endif()
  list(APPEND CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${_edgert_meta_dir})
endif()
# Cross build with an extra root (toolchains/aarch64-linux-gnu.cmake; scripts/cross_test.sh unpacks
# GStreamer, GLib and OpenCV for arm64 there with `dpkg -x`): dpkg-shlibdeps finds those libraries in
# the extra root's directories but no installed package owns them (CPack passes
# --ignore-missing-info), so the packages that provide them are named here (Debian bookworm's names;
# the versions are those the build was configured against).
if(CMAKE_CROSSCOMPILING AND EDGERT_CROSS_EXTRA_ROOT AND EXISTS "${EDGERT_CROSS_EXTRA_ROOT}/.libdirs")
  file(READ "${EDGERT_CROSS_EXTRA_ROOT}/.libdirs" _edgert_extra_libdirs)
  string(STRIP "${_edgert_extra_libdirs}" _edgert_extra_libdirs)
  string(REPLACE ":" ";" _edgert_extra_libdirs "${_edgert_extra_libdirs}")
  list(APPEND CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${_edgert_extra_libdirs})
  if(TARGET gstedgert)
    # The versions: pkg-config and OpenCV's package (their variables of plugins_gst/ are not visible here).
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --modversion gstreamer-1.0 OUTPUT_VARIABLE GST_VERSION
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --modversion gstreamer-rtsp-server-1.0
                    OUTPUT_VARIABLE EDGERT_APP_RTSP_VERSION OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    find_package(OpenCV QUIET COMPONENTS core imgproc)
    # Debian's OpenCV package suffix: major and two-digit minor (4.6.0: 406).
    math(EXPR _edgert_ocv_abi "${OpenCV_VERSION_MAJOR} * 100 + ${OpenCV_VERSION_MINOR}")
    set(EDGERT_DEB_CROSS_GST_DEPENDS
        "libglib2.0-0, libgstreamer1.0-0 (>= ${GST_VERSION}), libgstreamer-plugins-base1.0-0 (>= ${GST_VERSION}), libopencv-core${_edgert_ocv_abi}, libopencv-imgproc${_edgert_ocv_abi}"
        CACHE STRING "Depends of gstreamer1.0-edgert and edgert-tools on the extra root's libraries (cross build)")
    set(CPACK_DEBIAN_GST_PACKAGE_DEPENDS "${EDGERT_DEB_CROSS_GST_DEPENDS}")
    set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "${EDGERT_DEB_CROSS_GST_DEPENDS}")
    if(TARGET edgert-app AND EDGERT_APP_RTSP_VERSION)
      string(APPEND CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS ", libgstrtspserver-1.0-0 (>= ${EDGERT_APP_RTSP_VERSION})")
    endif()
  endif()
endif()
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME edgert-runtime)
# CUDA, cuBLAS and cuDNN come from NVIDIA's repositories / JetPack, not from Debian, so
# dpkg-shlibdeps finds the libraries (ld.so.conf or the directories below) but no package for
# them: name the packages by hand (NVIDIA's names; JetPack 6: cuda-cudart-12-6, libcublas-12-6,
# libcudnn9-cuda-12). Empty: no CUDA dependencies (e.g. CUDA installed from a runfile).
if(EDGERT_WITH_CUDA)
  set(EDGERT_DEB_CUDA_DEPENDS
      "cuda-cudart-${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR}, libcublas-${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR}, libcudnn9-cuda-${CUDAToolkit_VERSION_MAJOR}"
      CACHE STRING "Depends of edgert-runtime on the CUDA libraries (Debian package names)")
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "${EDGERT_DEB_CUDA_DEPENDS}")
  get_filename_component(_edgert_cudnn_dir "${EDGERT_CUDNN_LIBRARY}" DIRECTORY)
  list(APPEND CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CUDAToolkit_LIBRARY_DIR} ${_edgert_cudnn_dir})
endif()
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "edgert runtime library: loads and executes edgert plans")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME edgert-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "edgert development files: headers, the static builder library, CMake package and pkg-config files")
# The static builder needs protobuf's development library to link; a .a has no ELF dependencies
# for dpkg-shlibdeps to find.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libprotobuf-dev")

set(CPACK_DEBIAN_GST_PACKAGE_NAME gstreamer1.0-edgert)
set(CPACK_DEBIAN_GST_PACKAGE_SECTION video)
set(CPACK_COMPONENT_GST_DEPENDS runtime)
set(CPACK_COMPONENT_GST_DESCRIPTION "GStreamer plugin for edgert: edgertinfer, edgertoverlay and the result meta")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME edgert-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_TOOLS_DEPENDS runtime)
if(TARGET edgert-app AND TARGET gstedgert)
  list(APPEND CPACK_COMPONENT_TOOLS_DEPENDS gst)
endif()
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
    "edgert tools: the edgert CLI (check, build, inspect, run, bench), edgert-app, configs, systemd unit")

include(CPack)
