// Memory per parked fiber: N fibers (default 1,000,000) each parked on one Event
// at the same time, on a 2-worker Scheduler with default stacks, against N Go
// goroutines blocked on one channel (bench/go/peers.go "parked") when `go` is
// installed. Each figure is VmRSS growth over the parked phase divided by N,
// measured in a fresh child process; runs alternate spindle, Go, spindle, Go...
// and the table shows medians.
//
//   ./bazelw run --config=bench //bench:parked_fibers -- [--fibers=N] [--runs=R]
//
// Also shown for spindle: page-table memory per fiber (VmPTE, not part of RSS) and
// the process's memory mappings while all are parked (vm.max_map_count is 65530
// by default).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/event.h"
#include "spindle/sync/wait_group.h"

namespace {

double status_kib(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  double v = 0;
  const std::size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') v = std::atof(line + n + 1);
  }
  std::fclose(f);
  return v;
}

long count_mappings() {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return -1;
  long lines = 0;
  for (int c; (c = std::fgetc(f)) != EOF;) lines += c == '\n';
  std::fclose(f);
  return lines;
}

// The measurement itself, in this (child) process. Prints "key value" lines.
int run_spindle(int n) {
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "parked"});
  spindle::Event release;
  spindle::WaitGroup done;
  std::atomic<int> arrived{0};
  const double rss0 = status_kib("VmRSS"), pte0 = status_kib("VmPTE");
  const auto start = std::chrono::steady_clock::now();
  done.add(n);
  for (int i = 0; i < n; ++i) {
    spindle::spawn(sched, [&] {
      arrived.fetch_add(1, std::memory_order_relaxed);
      release.wait();
      done.done();
    }).detach();
  }
  while (arrived.load(std::memory_order_relaxed) < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double spawn_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the last arrivals reach their wait
  const double rss1 = status_kib("VmRSS"), pte1 = status_kib("VmPTE");
  const long maps = count_mappings();
  release.set();
  done.wait();
  std::printf("rss_per_parked_b %.1f\npte_per_parked_b %.1f\nmaps %ld\nspawn_s %.3f\n",
              (rss1 - rss0) * 1024 / n, (pte1 - pte0) * 1024 / n, maps, spawn_s);
  return 0;
}

struct Figures {
  double rss = 0, pte = 0, maps = 0, spawn_s = 0;
};

// Runs `argv` with its stdout captured; parses the "key value" lines.
bool run_child(const std::vector<std::string>& args, Figures* out) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string text;
  char buf[512];
  for (ssize_t k; (k = read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(k));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return false;
  char key[64];
  double v = 0;
  for (const char* p = text.c_str(); std::sscanf(p, "%63s %lf", key, &v) == 2;) {
    const std::string k = key;
    if (k == "rss_per_parked_b") out->rss = v;
    if (k == "pte_per_parked_b") out->pte = v;
    if (k == "maps") out->maps = v;
    if (k == "spawn_s") out->spawn_s = v;
    p = std::strchr(p, '\n');
    if (p == nullptr) break;
    ++p;
  }
  return true;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 1'000'000, runs = 3;
  bool child = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--fibers=", 9) == 0) n = std::atoi(argv[i] + 9);
    if (std::strncmp(argv[i], "--runs=", 7) == 0) runs = std::atoi(argv[i] + 7);
    if (std::strcmp(argv[i], "--child") == 0) child = true;
  }
  if (child) return run_spindle(n);

  // The Go peer, built once (bazel run sets BUILD_WORKSPACE_DIRECTORY).
  const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string peers = std::string(ws != nullptr ? ws : ".") + "/bench/go/peers.go";
  const std::string go_bin = "/tmp/spindle-parked-go-peer";
  bool have_go = false;
  if (std::system("command -v go >/dev/null 2>&1") == 0) {
    const std::string build = "GOCACHE=/tmp/spindle-gocache GO111MODULE=off go build -o " + go_bin + " " + peers;
    have_go = std::system(build.c_str()) == 0;
  }
  setenv("GOMAXPROCS", "2", 1);

  std::vector<double> s_rss, s_pte, s_maps, s_spawn, g_rss, g_spawn;
  const std::string self = "/proc/self/exe";
  char exe[4096] = {};
  if (readlink("/proc/self/exe", exe, sizeof exe - 1) <= 0) return 1;
  for (int r = 0; r < runs; ++r) {
    Figures s;
    if (!run_child({exe, "--child", "--fibers=" + std::to_string(n)}, &s)) {
      std::fprintf(stderr, "spindle run failed\n");
      return 1;
    }
    s_rss.push_back(s.rss);
    s_pte.push_back(s.pte);
    s_maps.push_back(s.maps);
    s_spawn.push_back(s.spawn_s);
    if (have_go) {
      Figures g;
      if (!run_child({go_bin, "parked", std::to_string(n)}, &g)) {
        std::fprintf(stderr, "Go run failed\n");
        return 1;
      }
      g_rss.push_back(g.rss);
      g_spawn.push_back(g.spawn_s);
    }
  }
  std::system("grep -m1 'model name' /proc/cpuinfo");
  std::printf("%d parked at once, median of %d runs (alternating)\n", n, runs);
  std::printf("| figure | spindle (2 workers, 64 KiB stacks) | Go (GOMAXPROCS=2) | spindle / Go |\n|---|---|---|---|\n");
  const double sr = median(s_rss), gr = median(g_rss);
  if (have_go) {
    std::printf("| RSS per parked fiber | %.0f B | %.0f B | %.2fx |\n", sr, gr, sr / gr);
    std::printf("| time to spawn all until parked | %.2f s | %.2f s | %.2fx |\n", median(s_spawn), median(g_spawn),
                median(s_spawn) / median(g_spawn));
  } else {
    std::printf("| RSS per parked fiber | %.0f B | (no go) | - |\n", sr);
    std::printf("| time to spawn all until parked | %.2f s | (no go) | - |\n", median(s_spawn));
  }
  std::printf("spindle also: page tables %.0f B per parked fiber (VmPTE, not in RSS); %.0f memory mappings while parked\n",
              median(s_pte), median(s_maps));
  return 0;
}
