// A Go peer of bench/echo's idle-connection table only: the Go echo server written
// the way examples/echo_server is, waiting for readability before it takes a
// buffer (syscall.RawConn.Read with a MSG_PEEK probe; a sync.Pool of 4 KiB
// buffers). Not idiomatic Go; it shows where a goroutine's 2 KiB first stack
// puts Go's floor. GOMAXPROCS is set by the caller.
//
//	GOMAXPROCS=2 go run bench/echo_peers/echo_rawconn.go --port=9000
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
)

var buffers = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// readable waits until a read on c would not block: a byte, the end of the
// stream or an error. The probe runs before every wait, so no byte is missed.
func readable(rc syscall.RawConn) error {
	var probe [1]byte
	return rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), probe[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	})
}

func serve(c *net.TCPConn) {
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	for readable(rc) == nil {
		bp := buffers.Get().(*[]byte)
		n, err := c.Read(*bp)
		if n > 0 {
			_, err = c.Write((*bp)[:n])
		}
		buffers.Put(bp)
		if err != nil {
			return
		}
	}
}

func main() {
	port := flag.Int("port", 9000, "port on 127.0.0.1 (0: any free one)")
	flag.Parse()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go serve(c.(*net.TCPConn))
	}
}
