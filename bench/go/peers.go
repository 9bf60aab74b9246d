// Go peers for bench/compare.sh: the same figures as spindle's benchmarks,
// measured with goroutines. Prints "key value" lines.
//
//   GOMAXPROCS=2 go run bench/go/peers.go
//   GOMAXPROCS=2 go run bench/go/peers.go parked 1000000   # bench/parked_fibers's peer
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// statusKiB reads one "<field>: <n> kB" line of /proc/self/status.
func statusKiB(field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, field+":")), "%f", &kb)
			return kb
		}
	}
	return 0
}

// parked: n goroutines blocked on one channel at once; resident memory per
// parked goroutine (VmRSS growth over the wait). The peer of bench/parked_fibers.
func parked(n int) {
	release := make(chan struct{})
	var arrived int64
	var done sync.WaitGroup
	runtime.GC()
	rss0 := statusKiB("VmRSS")
	start := time.Now()
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&arrived, 1)
			<-release
			done.Done()
		}()
	}
	for atomic.LoadInt64(&arrived) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	spawnS := time.Since(start).Seconds()
	time.Sleep(200 * time.Millisecond) // the last arrivals reach their receive
	rss1 := statusKiB("VmRSS")
	close(release)
	done.Wait()
	fmt.Printf("rss_per_parked_b %.1f\nspawn_s %.3f\n", (rss1-rss0)*1024/float64(n), spawnS)
}

func skynet(c chan int64, num, size int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64, 10)
	sub := size / 10
	for i := int64(0); i < 10; i++ {
		go skynet(rc, num+i*sub, sub)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

func nsPer(start time.Time, ops int) float64 {
	return float64(time.Since(start).Nanoseconds()) / float64(ops)
}

var frameSink int64

func frameJob(iters int64) {
	x := int64(-7046029254386353131)
	for i := int64(0); i < iters; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	if x == 42 {
		frameSink++
	}
}

func cpuMicros() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec)*1e6 + float64(ru.Utime.Usec+ru.Stime.Usec)
}

// bench/frame's game-loop frame with goroutines: `frame <sleep_us> [frames jobs job_us [iters]]`
// prints "p50 p99 max cpu_per_frame" in microseconds.
func frameMode(args []string) {
	sleepUs, _ := strconv.Atoi(args[0])
	frames, jobs, jobUs := 2000, 64, 2.0
	if len(args) > 3 {
		frames, _ = strconv.Atoi(args[1])
		jobs, _ = strconv.Atoi(args[2])
		jobUs, _ = strconv.ParseFloat(args[3], 64)
	}
	// Best of several tries, so a try preempted on a shared machine does not shrink
	// every job (bench/frame calibrates on thread CPU time to the same end).
	var perUs float64
	for try := 0; try < 5; try++ {
		const n = int64(4000000)
		t0 := time.Now()
		frameJob(n)
		if r := float64(n) / (float64(time.Since(t0).Nanoseconds()) / 1e3); r > perUs {
			perUs = r
		}
	}
	iters := int64(jobUs * perUs)
	if len(args) > 4 { // the iteration count bench/frame calibrated: the same jobs for both
		iters, _ = strconv.ParseInt(args[4], 10, 64)
	}
	frame := func() {
		var wg sync.WaitGroup
		wg.Add(jobs)
		for i := 0; i < jobs; i++ {
			go func() { frameJob(iters); wg.Done() }()
		}
		wg.Wait()
	}
	for i := 0; i < 50; i++ {
		frame()
	}
	lat := make([]float64, 0, frames)
	cpu0 := cpuMicros()
	for f := 0; f < frames; f++ {
		if sleepUs > 0 {
			time.Sleep(time.Duration(sleepUs) * time.Microsecond)
		}
		t0 := time.Now()
		frame()
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/1e3)
	}
	cpu := (cpuMicros() - cpu0) / float64(frames)
	sort.Float64s(lat)
	fmt.Printf("%.2f %.2f %.2f %.2f\n", lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], cpu)
}

func main() {
	procs := runtime.GOMAXPROCS(0)
	if len(os.Args) > 2 && os.Args[1] == "frame" {
		frameMode(os.Args[2:])
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "parked" {
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "parked: bad count", os.Args[2])
			os.Exit(2)
		}
		parked(n)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "skynet" {
		start := time.Now()
		c := make(chan int64, 1)
		go skynet(c, 0, 1000000)
		if sum := <-c; sum != 499999500000 {
			fmt.Fprintln(os.Stderr, "skynet: wrong sum", sum)
			os.Exit(1)
		}
		fmt.Printf("skynet_%d_s %.4f\nskynet_%d_rss_mib %.1f\n", procs, time.Since(start).Seconds(), procs, peakRSSMiB())
		return
	}
	// spawn + join one goroutine at a time
	{
		const n = 200000
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { wg.Done() }()
			wg.Wait()
		}
		fmt.Printf("spawn_join_ns %.1f\n", nsPer(start, n))
	}
	// yield ping-pong (meaningful with GOMAXPROCS=1)
	{
		const n = 2000000
		var wg sync.WaitGroup
		wg.Add(1)
		start := time.Now()
		go func() {
			for i := 0; i < n/2; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
		for i := 0; i < n/2; i++ {
			runtime.Gosched()
		}
		wg.Wait()
		fmt.Printf("yield_ns %.1f\n", nsPer(start, n))
	}
	// contended mutex: 4 goroutines, 1M lock/unlock in all
	{
		const n = 1000000
		var mu sync.Mutex
		var wg sync.WaitGroup
		counter := 0
		start := time.Now()
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				for i := 0; i < n/4; i++ {
					mu.Lock()
					counter++
					mu.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		fmt.Printf("mutex_contended_ns %.1f\n", nsPer(start, n))
	}
	// unbuffered channel ping-pong, per round trip
	{
		const n = 500000
		ping, pong := make(chan int), make(chan int)
		go func() {
			for v := range ping {
				pong <- v
			}
		}()
		start := time.Now()
		for i := 0; i < n; i++ {
			ping <- i
			<-pong
		}
		close(ping)
		fmt.Printf("chan_pingpong_ns %.1f\n", nsPer(start, n))
	}
}
