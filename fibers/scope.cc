#include "spindle/fibers/scope.h"

#include <cstdio>
#include <cstdlib>

namespace spindle {

Scope::~Scope() {
  try {
    join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spindle: Scope destroyed with an unobserved child exception: %s (call join())\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "spindle: Scope destroyed with an unobserved child exception (call join())\n");
    std::abort();
  }
}

void Scope::join() {
  for (;;) {
    JoinHandle<void> child;
    {
      std::lock_guard<std::mutex> lk(lock_);
      if (children_.empty()) break;
      child = std::move(children_.back());
      children_.pop_back();
    }
    child.join();  // children catch their own exceptions (fail), so this does not throw
  }
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lk(lock_);
    error = std::exchange(first_error_, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

void Scope::request_stop() { stop_.request_stop(); }

void Scope::fail(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lk(lock_);
    if (first_error_ == nullptr) first_error_ = std::move(error);
  }
  request_stop();
}

}  // namespace spindle
