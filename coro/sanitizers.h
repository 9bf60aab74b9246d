// Which sanitizer this translation unit is built with, detected the same way on
// GCC (__SANITIZE_*__) and clang (__has_feature, which GCC 12 cannot evaluate inside
// a `defined(...) &&` expression, hence the nesting).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define SPINDLE_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define SPINDLE_TSAN 1
#endif
#ifdef __has_feature
#if __has_feature(address_sanitizer)
#define SPINDLE_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define SPINDLE_TSAN 1
#endif
#endif

#ifndef SPINDLE_ASAN
#define SPINDLE_ASAN 0
#endif
#ifndef SPINDLE_TSAN
#define SPINDLE_TSAN 0
#endif

#if SPINDLE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if SPINDLE_TSAN
#include <sanitizer/tsan_interface.h>
#endif
