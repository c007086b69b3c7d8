package main

import (
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Frame kinds inside a /v1/spawn response body: [kind u8][length u32 big-endian][payload].
const (
	frameStdout byte = 1
	frameStderr byte = 2
	frameExit   byte = 3 // payload: JSON {"exitCode": n, "signal"?: "KILL"}
)

// quietAfterExit: once the child has exited, output pipes that stay silent this long are held by
// processes it left behind; the exit is reported without waiting for them.
const quietAfterExit = 500 * time.Millisecond

// headerGrace bounds how long a command's response headers may wait to leave with its first
// frame: long enough for `true` or `echo` to exit, short next to any command worth signalling.
// (--header-grace changes it: tests widen the window a reset can fall into.)
var headerGrace = 2 * time.Millisecond

// frameWriter serialises frames from the stdout and stderr pumps onto one response body.
type frameWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	flusher *http.ResponseController
	broken  bool
	// finished: the handler returned, the ResponseWriter must not be touched any more.
	finished bool
	flushed  bool
	timer    *time.Timer
}

func newFrameWriter(w http.ResponseWriter) *frameWriter {
	return &frameWriter{w: w, flusher: http.NewResponseController(w)}
}

// write sends one frame and flushes it; false once the client is gone (later frames are dropped).
// It blocks while HTTP/2 flow control holds the stream: that is the backpressure on the child.
func (f *frameWriter) write(kind byte, payload []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken {
		return false
	}
	var header [5]byte
	header[0] = kind
	binary.BigEndian.PutUint32(header[1:], uint32(len(payload)))
	if _, err := f.w.Write(header[:]); err != nil {
		f.broken = true
	} else if _, err := f.w.Write(payload); err != nil {
		f.broken = true
	} else if err := f.flusher.Flush(); err != nil {
		f.broken = true
	}
	f.flushed = true
	return !f.broken
}

// flushWithin sends the headers after d unless a frame has carried them out before.
func (f *frameWriter) flushWithin(d time.Duration) {
	f.timer = time.AfterFunc(d, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.flushed && !f.finished && !f.broken {
			f.flushed = true
			if err := f.flusher.Flush(); err != nil {
				f.broken = true
			}
		}
	})
}

// flushNow sends the headers at once.
func (f *frameWriter) flushNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushed = true
	if err := f.flusher.Flush(); err != nil {
		f.broken = true
	}
}

// sentHeaders: the headers (and with them the pid) went out, or a frame did.
func (f *frameWriter) sentHeaders() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flushed && !f.broken
}

// done marks the end of the handler: no timer may flush a finished response.
func (f *frameWriter) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = true
	if f.timer != nil {
		f.timer.Stop()
	}
}

// outputPipes are a child's stdout and stderr, with what the pumps are doing.
type outputPipes struct {
	stdoutR, stdoutW, stderrR, stderrW *os.File
	// lastActive is the UnixNano of the last read or completed write; busy counts frames in flight.
	lastActive atomic.Int64
	busy       atomic.Int32
}

func newOutputPipes() (*outputPipes, error) {
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return nil, err
	}
	return &outputPipes{stdoutR: stdoutR, stdoutW: stdoutW, stderrR: stderrR, stderrW: stderrW}, nil
}

// closeWriteEnds drops our copies once the child has its own, so EOF means every writer is gone.
func (o *outputPipes) closeWriteEnds() {
	o.stdoutW.Close()
	o.stderrW.Close()
}

func (o *outputPipes) closeReadEnds() {
	o.stdoutR.Close()
	o.stderrR.Close()
}

func (o *outputPipes) closeAll() {
	o.closeWriteEnds()
	o.closeReadEnds()
}

// pump copies both pipes into frames until each reaches EOF (or is closed); the channel closes then.
// Once the client is gone it keeps reading and discarding, so the child never blocks on a full pipe.
func (o *outputPipes) pump(frames *frameWriter) <-chan struct{} {
	o.lastActive.Store(time.Now().UnixNano())
	var pumps sync.WaitGroup
	copyPipe := func(kind byte, from io.Reader) {
		defer pumps.Done()
		buffer := make([]byte, 32<<10)
		for {
			n, err := from.Read(buffer)
			if n > 0 {
				o.busy.Add(1)
				o.lastActive.Store(time.Now().UnixNano())
				frames.write(kind, buffer[:n])
				o.lastActive.Store(time.Now().UnixNano())
				o.busy.Add(-1)
			}
			if err != nil {
				return
			}
		}
	}
	pumps.Add(2)
	go copyPipe(frameStdout, o.stdoutR)
	go copyPipe(frameStderr, o.stderrR)
	done := make(chan struct{})
	go func() {
		pumps.Wait()
		o.closeReadEnds()
		close(done)
	}()
	return done
}

// finish waits, after the child exited, for the pumps to drain: as long as output flows or a frame
// is waiting on flow control, and until the pipes stay quiet for quietAfterExit. Then it closes
// the read ends (left-behind writers get EPIPE) and waits for the pumps to stop.
func (o *outputPipes) finish(pumped <-chan struct{}) {
	ticker := time.NewTicker(quietAfterExit / 5)
	defer ticker.Stop()
	for {
		select {
		case <-pumped:
			return
		case <-ticker.C:
			quiet := time.Since(time.Unix(0, o.lastActive.Load()))
			if o.busy.Load() == 0 && quiet >= quietAfterExit {
				o.closeReadEnds()
				<-pumped
				return
			}
		}
	}
}
