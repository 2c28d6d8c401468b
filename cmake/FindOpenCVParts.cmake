# Finds the three OpenCV 4 modules pixelmill uses (core, imgproc, imgcodecs) and
# makes imported targets OpenCV::core, OpenCV::imgproc, OpenCV::imgcodecs.
#
# Why not find_package(OpenCV): Debian ships OpenCVConfig.cmake only in libopencv-dev,
# which depends on every OpenCV module (dnn, videoio, gapi, ... and their -dev trees,
# several hundred MB). The per-module libopencv-{core,imgproc,imgcodecs}-dev packages
# have the headers and libraries but no CMake config, so this module finds them directly.
include(FindPackageHandleStandardArgs)

find_path(OpenCVParts_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
set(_ocv_vars OpenCVParts_INCLUDE_DIR)
foreach(_m core imgproc imgcodecs)
  find_library(OpenCVParts_${_m}_LIBRARY opencv_${_m})
  list(APPEND _ocv_vars OpenCVParts_${_m}_LIBRARY)
endforeach()

if(OpenCVParts_INCLUDE_DIR AND EXISTS "${OpenCVParts_INCLUDE_DIR}/opencv2/core/version.hpp")
  file(STRINGS "${OpenCVParts_INCLUDE_DIR}/opencv2/core/version.hpp" _ocv_ver
       REGEX "#define CV_VERSION_(MAJOR|MINOR|REVISION) ")
  string(REGEX REPLACE ".*MAJOR ([0-9]+).*MINOR ([0-9]+).*REVISION ([0-9]+).*" "\\1.\\2.\\3"
         OpenCVParts_VERSION "${_ocv_ver}")
endif()

find_package_handle_standard_args(OpenCVParts
  REQUIRED_VARS ${_ocv_vars} VERSION_VAR OpenCVParts_VERSION)

if(OpenCVParts_FOUND)
  foreach(_m core imgproc imgcodecs)
    if(NOT TARGET OpenCV::${_m})
      add_library(OpenCV::${_m} UNKNOWN IMPORTED)
      set_target_properties(OpenCV::${_m} PROPERTIES
        IMPORTED_LOCATION "${OpenCVParts_${_m}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${OpenCVParts_INCLUDE_DIR}")
    endif()
  endforeach()
  set_property(TARGET OpenCV::imgproc APPEND PROPERTY INTERFACE_LINK_LIBRARIES OpenCV::core)
  set_property(TARGET OpenCV::imgcodecs APPEND PROPERTY INTERFACE_LINK_LIBRARIES OpenCV::imgproc)
endif()
mark_as_advanced(${_ocv_vars})
