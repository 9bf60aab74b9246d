// server_loop: a loopback TCP key-value server written the way one writes it in
// Go: a fiber per connection doing plain blocking reads and writes through
// spindle::net (the fiber parks while its socket has nothing; no I/O thread, no
// hand-written epoll). Connection fibers share a Mutex-guarded cache and send log
// lines through a Channel to a logger fiber. A built-in load generator (plain
// threads, each with a blocking net::TcpStream) drives it for a few seconds and
// the demo prints requests/s and latency percentiles.
//
//   ./bazelw run //examples:server_loop -- --seconds=3 --clients=8
//
// Protocol, one line each way:  GET <key> -> VALUE <v> | MISSING
//                                SET <key> <value> -> OK
//                                anything else -> ERROR <why>   (the server stays up)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/io/tcp.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/channel.h"
#include "spindle/sync/mutex.h"
#include "spindle/sync/wait_group.h"

namespace {

namespace net = spindle::net;
using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxLine = 1024;
// Parses and answers one request line. Runs on a fiber.
std::string handle(const std::string& line, spindle::Mutex& cache_lock,
                   std::unordered_map<std::string, std::string>& cache, spindle::Channel<std::string>& log) {
  std::istringstream in(line);
  std::string verb, key, value, extra;
  in >> verb >> key;
  if (verb == "GET" && !key.empty() && !(in >> extra)) {
    std::string reply;
    {
      std::lock_guard<spindle::Mutex> g(cache_lock);
      auto it = cache.find(key);
      reply = it == cache.end() ? "MISSING" : "VALUE " + it->second;
    }
    return reply;
  }
  if (verb == "SET" && !key.empty() && (in >> value) && !(in >> extra)) {
    {
      std::lock_guard<spindle::Mutex> g(cache_lock);
      cache[key] = value;
    }
    log.send("set " + key);  // parks this fiber if the logger falls behind
    return "OK";
  }
  log.send("rejected: " + line.substr(0, 40));
  return "ERROR bad request (expected GET <key> or SET <key> <value>)";
}

class Server {
 public:
  explicit Server(spindle::Scheduler& sched)
      : sched_(sched), listener_(net::TcpListener::bind(net::Endpoint::loopback_v4(0), 128)), log_(256) {
    logger_ = spindle::spawn(spindle::FiberOptions{.executor = &sched_, .name = "logger"}, [this] {
      long lines = 0;
      while (auto line = log_.recv()) ++lines;  // a real server would write them out
      return lines;
    });
    acceptor_ = spindle::spawn(spindle::FiberOptions{.executor = &sched_, .name = "acceptor"}, [this] {
      for (;;) {
        std::error_code ec;
        net::TcpStream conn = listener_.accept(ec);
        if (ec) return;  // stop() closed the listener
        conn.set_nodelay(true, ec);
        live_.add(1);
        spindle::spawn(spindle::FiberOptions{.name = "conn"}, [this, c = std::move(conn)]() mutable {
          serve(c);
          live_.done();
        }).detach();
      }
    });
  }

  // Clean shutdown: stop accepting, close every open connection (their fibers'
  // blocked reads end), wait for the connection fibers, drain the logger.
  long stop() {
    listener_.close();
    acceptor_.join();
    {
      std::lock_guard<spindle::Mutex> g(conns_lock_);
      stopping_ = true;
      for (net::TcpStream* c : conns_) c->close();
    }
    live_.wait();
    log_.close();
    return logger_.join();
  }

  int port() const { return listener_.local_endpoint().port(); }
  long requests() const { return requests_.load(); }

 private:
  // One connection's fiber: read lines, answer each, until the client leaves.
  void serve(net::TcpStream& c) {
    {
      std::lock_guard<spindle::Mutex> g(conns_lock_);
      if (stopping_) return;
      conns_.insert(&c);
    }
    std::string in;
    char buf[4096];
    std::error_code ec;
    while (std::size_t got = c.read_some(buf, ec)) {  // 0: the client closed; ec: closed by stop()
      in.append(buf, got);
      std::size_t eol;
      while ((eol = in.find('\n')) != std::string::npos) {
        std::string line = in.substr(0, eol);
        in.erase(0, eol + 1);
        requests_++;
        c.write_all(handle(line, cache_lock_, cache_, log_) + "\n", ec);
      }
      if (in.size() > kMaxLine) {  // no newline in sight: refuse, keep serving
        in.clear();
        c.write_all("ERROR line too long\n", ec);
      }
    }
    std::lock_guard<spindle::Mutex> g(conns_lock_);
    conns_.erase(&c);
  }

  spindle::Scheduler& sched_;
  net::TcpListener listener_;
  spindle::Mutex cache_lock_;
  std::unordered_map<std::string, std::string> cache_;
  spindle::Channel<std::string> log_;
  spindle::JoinHandle<long> logger_;
  spindle::JoinHandle<void> acceptor_;
  spindle::WaitGroup live_;  // connection fibers still running
  spindle::Mutex conns_lock_;
  std::set<net::TcpStream*> conns_;  // open connections, for stop(); guarded by conns_lock_
  bool stopping_ = false;           // guarded by conns_lock_
  std::atomic<long> requests_{0};
};

// One blocking client connection (a plain thread: net::TcpStream blocks the
// thread here): request, wait for the reply line, repeat. The first request and
// about 2% of the others are malformed on purpose.
struct ClientStats {
  std::vector<double> latency_us;
  long sent = 0, bad_sent = 0, errors_seen = 0, wrong = 0;
};

void client(int port, int id, Clock::time_point until, ClientStats& stats) {
  std::error_code ec;
  net::TcpStream s = net::TcpStream::connect(net::Endpoint::loopback_v4(static_cast<std::uint16_t>(port)), ec);
  if (ec) {
    std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
    std::exit(1);
  }
  s.set_nodelay(true, ec);
  std::mt19937 rng(static_cast<unsigned>(id));
  std::string pending;
  for (long i = 0; Clock::now() < until; ++i) {
    std::string req;
    const int kind = static_cast<int>(rng() % 100);
    const std::string key = "k" + std::to_string(rng() % 64);
    const bool bad = i == 0 || kind < 2;
    if (bad) {
      req = "FLY " + key + "\n";
      stats.bad_sent++;
    } else if (kind < 22) {
      req = "SET " + key + " v" + std::to_string(i) + "\n";
    } else {
      req = "GET " + key + "\n";
    }
    const auto t0 = Clock::now();
    s.write_all(req, ec);
    if (ec) return;
    stats.sent++;
    std::size_t eol;
    while ((eol = pending.find('\n')) == std::string::npos) {
      char buf[512];
      const std::size_t got = s.read_some(buf, ec);
      if (got == 0) return;  // closed or failed: this request stays unanswered
      pending.append(buf, got);
    }
    const std::string line = pending.substr(0, eol);
    pending.erase(0, eol + 1);
    stats.latency_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    const bool is_error = line.rfind("ERROR", 0) == 0;
    stats.errors_seen += is_error;
    if (is_error != bad) stats.wrong++;
  }
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  int clients = 8, workers = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) seconds = std::atof(argv[i] + 10);
    else if (std::strncmp(argv[i], "--clients=", 10) == 0) clients = std::atoi(argv[i] + 10);
    else if (std::strncmp(argv[i], "--workers=", 10) == 0) workers = std::atoi(argv[i] + 10);
    else {
      std::fprintf(stderr, "usage: server_loop [--seconds=S] [--clients=N] [--workers=N]\n");
      return 2;
    }
  }
  if (seconds <= 0 || clients < 1 || workers < 0) {
    std::fprintf(stderr, "server_loop: flags out of range\n");
    return 2;
  }
  spindle::Scheduler sched({.workers = static_cast<std::size_t>(workers), .name = "server"});
  Server server(sched);
  std::printf("server_loop: listening on 127.0.0.1:%d, %zu workers, %d clients for %.1f s\n", server.port(),
              sched.worker_count(), clients, seconds);

  std::vector<ClientStats> stats(static_cast<std::size_t>(clients));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int c = 0; c < clients; ++c) threads.emplace_back(client, server.port(), c, until, std::ref(stats[c]));
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> all;
  long sent = 0, bad_sent = 0, errors = 0, wrong = 0;
  for (auto& s : stats) {
    sent += s.sent;
    all.insert(all.end(), s.latency_us.begin(), s.latency_us.end());
    bad_sent += s.bad_sent;
    errors += s.errors_seen;
    wrong += s.wrong;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))]; };
  std::printf("requests: %zu answered of %ld sent in %.2f s (%.0f req/s); latency p50 %.0f us, p90 %.0f us, p99 %.0f us\n",
              all.size(), sent, wall, static_cast<double>(all.size()) / wall, pct(0.5), pct(0.9), pct(0.99));
  std::printf("bad requests: %ld sent, %ld rejected with ERROR; wrong replies: %ld\n", bad_sent, errors, wrong);
  const long log_lines = server.stop();
  std::printf("logger fiber wrote %ld lines; server handled %ld requests\nclean shutdown\n", log_lines, server.requests());
  return wrong == 0 && static_cast<long>(all.size()) == sent ? 0 : 1;
}
