package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// Frame kinds inside a /v1/spawn response body: [kind u8][length u32 big-endian][payload].
const (
	frameStdout byte = 1
	frameStderr byte = 2
	frameExit   byte = 3 // payload: JSON {"exitCode": n} or {"signal": "KILL"}
)

func newRouter() http.Handler {
	router := http.NewServeMux()
	router.HandleFunc("GET /v1/hello", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"agent": "berth-agent", "version": version, "pid": os.Getpid()})
	})
	router.HandleFunc("POST /v1/spawn", spawn)
	return router
}

var (
	childrenMu sync.Mutex
	children   = map[*exec.Cmd]io.Closer{}
)

// closeAllChildren gives every child EOF on stdin; shells reading commands then end by themselves.
func closeAllChildren() {
	childrenMu.Lock()
	defer childrenMu.Unlock()
	for _, stdin := range children {
		_ = stdin.Close()
	}
}

// spawn starts the argv in the berth-argv header (JSON array) with piped stdio. The request body
// is the child's stdin; the response body carries its stdout, stderr and finally its exit status.
// A reset stream closes the child's stdin (the transport went away) but does not kill it.
func spawn(w http.ResponseWriter, r *http.Request) {
	var argv []string
	if err := json.Unmarshal([]byte(r.Header.Get("berth-argv")), &argv); err != nil || len(argv) == 0 {
		http.Error(w, "berth-argv must be a non-empty JSON array of strings", http.StatusBadRequest)
		return
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	// Its own session and process group: a kill aimed at a slot's group can never reach the agent,
	// and the slot shell is already the group leader core's sweep expects.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if dir := r.Header.Get("berth-cwd"); dir != "" {
		cmd.Dir = dir
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		status := http.StatusInternalServerError
		if os.IsNotExist(err) || isNotFound(err) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	childrenMu.Lock()
	children[cmd] = stdin
	childrenMu.Unlock()
	defer func() {
		childrenMu.Lock()
		delete(children, cmd)
		childrenMu.Unlock()
	}()

	w.Header().Set("content-type", "application/vnd.berth.frames")
	w.WriteHeader(http.StatusOK)
	flusher := http.NewResponseController(w)
	_ = flusher.Flush()

	// stdin: copy the request body until it ends or the stream is reset, then close the pipe.
	go func() {
		_, _ = io.Copy(stdin, r.Body)
		_ = stdin.Close()
	}()
	go func() {
		<-r.Context().Done()
		_ = stdin.Close()
	}()

	var writeMu sync.Mutex
	writeFrame := func(kind byte, payload []byte) bool {
		writeMu.Lock()
		defer writeMu.Unlock()
		var header [5]byte
		header[0] = kind
		binary.BigEndian.PutUint32(header[1:], uint32(len(payload)))
		if _, err := w.Write(header[:]); err != nil {
			return false
		}
		if _, err := w.Write(payload); err != nil {
			return false
		}
		return flusher.Flush() == nil
	}
	var pumps sync.WaitGroup
	pump := func(kind byte, from io.Reader) {
		defer pumps.Done()
		buffer := make([]byte, 32<<10)
		alive := true
		for {
			n, err := from.Read(buffer)
			if n > 0 && alive {
				// Once the client is gone keep draining, so the child never blocks on a full pipe.
				alive = writeFrame(kind, buffer[:n])
			}
			if err != nil {
				return
			}
		}
	}
	pumps.Add(2)
	go pump(frameStdout, stdout)
	go pump(frameStderr, stderr)
	pumps.Wait()
	waitErr := cmd.Wait()
	writeFrame(frameExit, exitStatus(cmd, waitErr))
}

func exitStatus(cmd *exec.Cmd, waitErr error) []byte {
	status := map[string]any{}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		status["signal"] = signalName(ws.Signal())
		status["exitCode"] = 128 + int(ws.Signal())
	} else if cmd.ProcessState != nil {
		status["exitCode"] = cmd.ProcessState.ExitCode()
	} else {
		status["error"] = fmt.Sprint(waitErr)
	}
	body, _ := json.Marshal(status)
	return body
}

func signalName(signal syscall.Signal) string {
	switch signal {
	case syscall.SIGKILL:
		return "KILL"
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGHUP:
		return "HUP"
	case syscall.SIGPIPE:
		return "PIPE"
	default:
		return fmt.Sprintf("%d", int(signal))
	}
}

func isNotFound(err error) bool {
	var execErr *exec.Error
	return errors.As(err, &execErr)
}
