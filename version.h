// spindle's version (semantic versioning: MAJOR changes break the API, MINOR adds
// to it, PATCH only fixes).
//
//   #include <spindle/version.h>
//   #if SPINDLE_VERSION_AT_LEAST(0, 2, 0) ... #endif       // at compile time
//   std::printf("%s\n", spindle::version().string);       // of the headers in use
//
// This file is the one place the number lives: CMakeLists.txt reads it for the
// CMake package version (find_package(spindle 0.2)) and spindle.pc.
#pragma once

#define SPINDLE_VERSION_MAJOR 0
#define SPINDLE_VERSION_MINOR 2
#define SPINDLE_VERSION_PATCH 0
#define SPINDLE_VERSION_STRING "0.2.0"

// One integer that orders versions: MAJOR * 10000 + MINOR * 100 + PATCH.
#define SPINDLE_VERSION (SPINDLE_VERSION_MAJOR * 10000 + SPINDLE_VERSION_MINOR * 100 + SPINDLE_VERSION_PATCH)

// True when the headers are at least version major.minor.patch.
#define SPINDLE_VERSION_AT_LEAST(major, minor, patch) (SPINDLE_VERSION >= ((major) * 10000 + (minor) * 100 + (patch)))

namespace spindle {

// A version number, as the SPINDLE_VERSION_* macros give it.
struct Version {
  int major = 0;
  int minor = 0;
  int patch = 0;
  const char* string = "";
};

// The version of the spindle headers this translation unit was compiled with.
constexpr Version version() {
  return Version{SPINDLE_VERSION_MAJOR, SPINDLE_VERSION_MINOR, SPINDLE_VERSION_PATCH, SPINDLE_VERSION_STRING};
}

}  // namespace spindle
