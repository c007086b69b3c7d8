package main

import (
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
// A reset stream (the client went away) closes all three pipes, as a dropped exec would: the child
// reads EOF, and gets EPIPE if it writes on; it is not killed.
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
	stdin, err := cmd.StdinPipe()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Our own output pipes (not StdoutPipe): Wait must reap the child as soon as it exits, while
	// the pumps go on reading whatever it left in the pipes.
	output, err := newOutputPipes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	cmd.Stdout, cmd.Stderr = output.stdoutW, output.stderrW
	if err := cmd.Start(); err != nil {
		output.closeAll()
		status := http.StatusInternalServerError
		if os.IsNotExist(err) || isNotFound(err) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	output.closeWriteEnds()
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
	frames := newFrameWriter(w)
	_ = frames.flusher.Flush()

	// stdin: copy the request body until it ends, then close the pipe.
	go func() {
		_, _ = io.Copy(stdin, r.Body)
		_ = stdin.Close()
	}()
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	pumped := output.pump(frames)
	go func() {
		<-r.Context().Done() // the stream ended: reset by the client, or finished by us
		_ = stdin.Close()
		output.closeReadEnds()
	}()
	<-exited
	// The child is gone; its output may still be in the pipes, or held open by a process it left
	// behind. Send the rest unless the pipes have gone quiet, then report the exit.
	output.finish(pumped)
	frames.write(frameExit, exitStatus(cmd, waitErr))
}

func exitStatus(cmd *exec.Cmd, waitErr error) []byte {
	status := map[string]any{}
	if cmd.ProcessState == nil {
		status["error"] = fmt.Sprint(waitErr)
	} else if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		status["signal"] = signalName(ws.Signal())
		status["exitCode"] = 128 + int(ws.Signal())
	} else {
		status["exitCode"] = cmd.ProcessState.ExitCode()
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
