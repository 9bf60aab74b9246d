// SPINDLE_FAULT_POINT() for sync/: the macro and its hook live in
// sched/fault_point.h (sched places fault points too, and cannot see sync). It
// compiles to nothing unless built with --config=faults; it must stay safe to call
// with a SpinLock held (harnesses then only delay the thread, never park the fiber).
#pragma once

#include "spindle/sched/fault_point.h"
