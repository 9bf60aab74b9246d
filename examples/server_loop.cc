// server_loop: a loopback TCP key-value server. One I/O thread owns every socket
// (epoll); each request line it parses becomes a fiber on a Scheduler; fibers share
// a Mutex-guarded cache and send log lines through a Channel to a logger fiber;
// replies go back through the I/O thread (an eventfd wakes it). A built-in load
// generator drives it for a few seconds and the demo prints requests/s and latency
// percentiles.
//
//   ./bazelw run //examples:server_loop -- --seconds=3 --clients=8
//   ./bazelw run //examples:server_loop -- --requests=100   # exactly 100 per client
//
// Protocol, one line each way:  GET <key> -> VALUE <v> | MISSING
//                                SET <key> <value> -> OK
//                                anything else -> ERROR <why>   (the server stays up)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/channel.h"
#include "spindle/sync/mutex.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxLine = 1024;

void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

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
  explicit Server(spindle::Scheduler& sched) : sched_(sched), log_(256) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) die("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
    if (listen(listen_fd_, 128) != 0) die("listen");
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    wake_fd_ = eventfd(0, EFD_NONBLOCK);
    epoll_fd_ = epoll_create1(0);
    add_fd(listen_fd_);
    add_fd(wake_fd_);
    logger_ = spindle::spawn(spindle::FiberOptions{.executor = &sched_, .name = "logger"}, [this] {
      long lines = 0;
      while (auto line = log_.recv()) ++lines;  // a real server would write them out
      return lines;
    });
    io_thread_ = std::thread([this] { io_loop(); });
  }

  // Clean shutdown: stop the I/O thread, close every socket, drain the logger.
  long stop() {
    stopping_ = true;
    signal_io();
    io_thread_.join();
    for (auto& [fd, conn] : conns_) close(fd);
    close(listen_fd_);
    close(wake_fd_);
    close(epoll_fd_);
    in_flight_wait();
    log_.close();
    return logger_.join();
  }

  int port() const { return port_; }
  long requests() const { return requests_.load(); }
  long rejected() const { return rejected_.load(); }

 private:
  struct Conn {
    std::string in;
  };

  void add_fd(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
  }
  void signal_io() {
    const std::uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }
  void in_flight_wait() {
    while (in_flight_.load() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  // Fibers hand replies to the I/O thread through the outbox.
  void reply(int fd, std::string text) {
    {
      std::lock_guard<std::mutex> g(outbox_lock_);
      outbox_.emplace_back(fd, std::move(text) + "\n");
    }
    signal_io();
  }

  void io_loop() {
    epoll_event events[64];
    while (!stopping_) {
      const int n = epoll_wait(epoll_fd_, events, 64, 100);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          while (true) {
            const int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK);
            if (c < 0) break;
            conns_[c] = Conn{};
            add_fd(c);
          }
        } else if (fd == wake_fd_) {
          std::uint64_t v;
          ssize_t ignored = read(wake_fd_, &v, sizeof v);
          (void)ignored;
        } else {
          read_requests(fd);
        }
      }
      flush_outbox();
    }
  }

  void read_requests(int fd) {
    char buf[4096];
    for (;;) {
      const ssize_t got = read(fd, buf, sizeof buf);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns_.erase(fd);
        return;
      }
      if (got < 0) return;
      Conn& conn = conns_[fd];
      conn.in.append(buf, static_cast<std::size_t>(got));
      std::size_t eol;
      while ((eol = conn.in.find('\n')) != std::string::npos) {
        std::string line = conn.in.substr(0, eol);
        conn.in.erase(0, eol + 1);
        dispatch(fd, std::move(line));
      }
      if (conn.in.size() > kMaxLine) {  // no newline in sight: refuse, keep serving others
        conn.in.clear();
        rejected_++;
        std::string err = "ERROR line too long\n";
        ssize_t ignored = write(fd, err.data(), err.size());
        (void)ignored;
      }
    }
  }

  void dispatch(int fd, std::string line) {
    requests_++;
    in_flight_++;
    spindle::spawn(sched_, [this, fd, line = std::move(line)] {
      std::string out = handle(line, cache_lock_, cache_, log_);
      if (out.rfind("ERROR", 0) == 0) rejected_++;
      reply(fd, std::move(out));
      in_flight_--;
    }).detach();
  }

  void flush_outbox() {
    std::vector<std::pair<int, std::string>> batch;
    {
      std::lock_guard<std::mutex> g(outbox_lock_);
      batch.swap(outbox_);
    }
    for (auto& [fd, text] : batch) {
      if (conns_.count(fd) == 0) continue;  // the client left
      ssize_t ignored = write(fd, text.data(), text.size());  // small replies fit the socket buffer
      (void)ignored;
    }
  }

  spindle::Scheduler& sched_;
  int listen_fd_ = -1, wake_fd_ = -1, epoll_fd_ = -1, port_ = 0;
  std::unordered_map<int, Conn> conns_;  // I/O thread only
  std::mutex outbox_lock_;
  std::vector<std::pair<int, std::string>> outbox_;
  spindle::Mutex cache_lock_;
  std::unordered_map<std::string, std::string> cache_;
  spindle::Channel<std::string> log_;
  spindle::JoinHandle<long> logger_;
  std::thread io_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<long> requests_{0}, rejected_{0}, in_flight_{0};
};

// One blocking client connection: request, wait for the reply line, repeat.
struct ClientStats {
  std::vector<double> latency_us;
  long bad_sent = 0, errors_seen = 0, wrong = 0;
};

// Runs until `until`, or for exactly `requests` requests if that is > 0.
void client(int port, int id, Clock::time_point until, long requests, ClientStats& stats) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::mt19937 rng(static_cast<unsigned>(id));
  std::string pending;
  for (long i = 0; requests > 0 ? i < requests : Clock::now() < until; ++i) {
    std::string req;
    const int kind = static_cast<int>(rng() % 100);
    const std::string key = "k" + std::to_string(rng() % 64);
    if (kind < 2) {
      req = "FLY " + key + "\n";  // a bad request
      stats.bad_sent++;
    } else if (kind < 22) {
      req = "SET " + key + " v" + std::to_string(i) + "\n";
    } else {
      req = "GET " + key + "\n";
    }
    const auto t0 = Clock::now();
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) break;
    std::size_t eol;
    while ((eol = pending.find('\n')) == std::string::npos) {
      char buf[512];
      const ssize_t got = read(fd, buf, sizeof buf);
      if (got <= 0) {
        close(fd);
        return;
      }
      pending.append(buf, static_cast<std::size_t>(got));
    }
    const std::string line = pending.substr(0, eol);
    pending.erase(0, eol + 1);
    stats.latency_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    const bool is_error = line.rfind("ERROR", 0) == 0;
    stats.errors_seen += is_error;
    if (is_error != (kind < 2)) stats.wrong++;
  }
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  int clients = 8, workers = 0;
  long requests = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) seconds = std::atof(argv[i] + 10);
    else if (std::strncmp(argv[i], "--clients=", 10) == 0) clients = std::atoi(argv[i] + 10);
    else if (std::strncmp(argv[i], "--workers=", 10) == 0) workers = std::atoi(argv[i] + 10);
    else if (std::strncmp(argv[i], "--requests=", 11) == 0) requests = std::atol(argv[i] + 11);
    else {
      std::fprintf(stderr, "usage: server_loop [--seconds=S | --requests=N] [--clients=N] [--workers=N]\n");
      return 2;
    }
  }
  if (seconds <= 0 || clients < 1 || workers < 0 || requests < 0) {
    std::fprintf(stderr, "server_loop: flags out of range\n");
    return 2;
  }
  spindle::Scheduler sched({.workers = static_cast<std::size_t>(workers), .name = "server"});
  Server server(sched);
  if (requests > 0) {
    std::printf("server_loop: listening on 127.0.0.1:%d, %zu workers, %d clients, %ld requests each\n",
                server.port(), sched.worker_count(), clients, requests);
  } else {
    std::printf("server_loop: listening on 127.0.0.1:%d, %zu workers, %d clients for %.1f s\n", server.port(),
                sched.worker_count(), clients, seconds);
  }

  std::vector<ClientStats> stats(static_cast<std::size_t>(clients));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back(client, server.port(), c, until, requests, std::ref(stats[c]));
  }
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> all;
  long bad_sent = 0, errors = 0, wrong = 0;
  for (auto& s : stats) {
    all.insert(all.end(), s.latency_us.begin(), s.latency_us.end());
    bad_sent += s.bad_sent;
    errors += s.errors_seen;
    wrong += s.wrong;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))]; };
  std::printf("requests: %zu answered in %.2f s (%.0f req/s); latency p50 %.0f us, p90 %.0f us, p99 %.0f us\n",
              all.size(), wall, static_cast<double>(all.size()) / wall, pct(0.5), pct(0.9), pct(0.99));
  std::printf("bad requests: %ld sent, %ld rejected with ERROR; wrong replies: %ld\n", bad_sent, errors, wrong);
  const long log_lines = server.stop();
  std::printf("logger fiber wrote %ld lines; server handled %ld requests\nclean shutdown\n", log_lines, server.requests());
  return wrong == 0 ? 0 : 1;
}
