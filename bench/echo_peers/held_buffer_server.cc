// A peer of bench/echo's idle-connection measurement: examples/echo_server with
// the Go peer's loop shape — a 4 KiB buffer on the fiber's stack, held across the
// wait for the next request — instead of wait_readable before taking a buffer.
// It shows what a parked connection costs when its buffer stays with it.
//
//   held_buffer_server --port=0 --workers=2
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "spindle/fibers/spawn.h"
#include "spindle/io/tcp.h"
#include "spindle/sched/scheduler.h"

namespace net = spindle::net;

int main(int argc, char** argv) {
  int port = 9000, workers = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--port=", 7) == 0) port = std::atoi(argv[i] + 7);
    else if (std::strncmp(argv[i], "--workers=", 10) == 0) workers = std::atoi(argv[i] + 10);
    else return std::fprintf(stderr, "usage: held_buffer_server [--port=N] [--workers=N]\n"), 2;
  }
  spindle::Scheduler sched({.workers = static_cast<std::size_t>(workers), .name = "echo-held"});
  auto listener = net::TcpListener::bind(net::Endpoint::loopback_v4(static_cast<std::uint16_t>(port)));
  std::printf("listening on %s\n", listener.local_endpoint().to_string().c_str());
  std::fflush(stdout);
  spindle::spawn(sched, [&] {
    for (;;) {
      net::TcpStream conn = listener.accept();
      conn.set_nodelay(true);
      spindle::spawn([c = std::move(conn)]() mutable {
        char buf[4096];  // touched (with the frames below it) for the fiber's whole life
        std::error_code ec;
        while (std::size_t n = c.read_some(buf, ec)) {
          if (c.write_all(net::ConstBuffer(buf, n), ec); ec) break;
        }
      }).detach();
    }
  }).join();
}
