// The umbrella header: everything a user of spindle normally needs.
//   #include <spindle/spindle.h>
// Prefer the per-layer headers (<spindle/<layer>/<file>.h>) in large codebases.
#pragma once

#include "spindle/coro/coroutine.h"
#include "spindle/coro/stack_pool.h"
#include "spindle/fibers/fiber_local.h"
#include "spindle/fibers/scope.h"
#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/fibers/waiter.h"
#include "spindle/sched/manual_executor.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sched/thread_pool.h"
#include "spindle/sync/barrier.h"
#include "spindle/sync/channel.h"
#include "spindle/sync/cond_var.h"
#include "spindle/sync/event.h"
#include "spindle/sync/mutex.h"
#include "spindle/sync/select.h"
#include "spindle/sync/semaphore.h"
#include "spindle/sync/wait_group.h"
#include "spindle/version.h"
