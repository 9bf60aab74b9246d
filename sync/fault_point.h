// SPINDLE_FAULT_POINT(): marks a slow path (contention, parking, hand-off) where a
// fault injector or the deterministic simulator (DESIGN.md, "testing") may later
// yield, sleep or move the fiber to shake out races.
//
// Today it compiles to nothing in every build. It lives in sync/ because sync is
// its only user so far; once sched places fault points too it moves down to a
// package both can see (sched cannot depend on sync). Call it as a statement:
//
//   if (!fast_path_succeeded) { SPINDLE_FAULT_POINT(); slow_path(); }
//
// It must stay safe to call with a SpinLock held: an injector may then only spin
// or sleep the thread, never park the fiber.
#pragma once

// Defined only if nothing else defined it first: sched/fault_point.h (in progress
// elsewhere) is meant to own this macro; sync then simply follows it.
#ifndef SPINDLE_FAULT_POINT
#define SPINDLE_FAULT_POINT() \
  do {                        \
  } while (false)
#endif
