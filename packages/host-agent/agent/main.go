// berth-agent: a multiplexer that runs inside a Berth host. It speaks HTTP/2 with prior knowledge
// over its own stdin/stdout (one `docker exec` carries it), and starts one process per request, so
// a host's N slot shells cost one engine exec instead of N. Flow control and stream resets come from
// Go's HTTP/2 server; the wire format inside a response is documented in ../README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"
)

// version is reported by /v1/hello; the Node client refuses an agent it does not speak with.
const version = "2"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Println(version)
		return
	}
	heartbeatTimeout := flag.Duration("heartbeat-timeout", 0,
		"exit, killing every process started, when no request arrives for this long (0: never)")
	flag.DurationVar(&headerGrace, "header-grace", headerGrace,
		"how long a command's response headers may wait to leave with its first frame")
	flag.Parse()
	becomeSubreaper()
	watchdog.start(*heartbeatTimeout)
	// The agent only shuttles bytes: two Ps are plenty, and on a 64-core host the default would
	// spend threads (which count against the container's pids limit) for nothing.
	if os.Getenv("GOMAXPROCS") == "" && runtime.NumCPU() > 2 {
		runtime.GOMAXPROCS(2)
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	server := &http.Server{
		Handler:   newRouter(),
		Protocols: protocols,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          1 << 16,
			MaxReceiveBufferPerStream:     1 << 20,
			MaxReceiveBufferPerConnection: 16 << 20,
			// The peer is our own client over a pipe: no pings, no idle timeout.
		},
	}
	listener := newStdioListener()
	err := server.Serve(listener)
	// Serve returns once the single stdio connection is gone: the client went away. Nothing it
	// started may outlive it: every descendant (orphans included: we are their subreaper) is killed.
	closeAllChildren()
	killDescendants()
	if err != nil && !errors.Is(err, errStdioClosed) && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "berth-agent:", err)
		os.Exit(1)
	}
}

var errStdioClosed = errors.New("stdio closed")

// stdioListener hands out exactly one connection, stdin+stdout, then reports closed once it ends.
type stdioListener struct {
	once   sync.Once
	conn   *stdioConn
	closed chan struct{}
}

func newStdioListener() *stdioListener {
	closed := make(chan struct{})
	return &stdioListener{conn: &stdioConn{closed: closed}, closed: closed}
}

func (l *stdioListener) Accept() (net.Conn, error) {
	var first bool
	l.once.Do(func() { first = true })
	if first {
		return l.conn, nil
	}
	<-l.closed
	return nil, errStdioClosed
}

func (l *stdioListener) Close() error   { l.conn.Close(); return nil }
func (l *stdioListener) Addr() net.Addr { return stdioAddr{} }

type stdioConn struct {
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *stdioConn) Read(p []byte) (int, error) {
	n, err := os.Stdin.Read(p)
	if err != nil {
		c.Close()
	}
	return n, err
}
func (c *stdioConn) Write(p []byte) (int, error) {
	n, err := os.Stdout.Write(p)
	if err != nil {
		c.Close()
	}
	return n, err
}
func (c *stdioConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr              { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr             { return stdioAddr{} }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdio" }
