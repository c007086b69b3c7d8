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

func newRouter() http.Handler {
	router := http.NewServeMux()
	router.HandleFunc("GET /v1/hello", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"agent": "berth-agent", "version": version, "pid": os.Getpid(), "sha256": executableDigest(),
		})
	})
	router.HandleFunc("POST /v1/spawn", func(w http.ResponseWriter, r *http.Request) { spawn(w, r, false) })
	router.HandleFunc("POST /v1/exec", func(w http.ResponseWriter, r *http.Request) { spawn(w, r, true) })
	router.HandleFunc("POST /v1/file/write", writeFile)
	router.HandleFunc("POST /v1/file/read", readFile)
	router.HandleFunc("POST /v1/clean", clean)
	router.HandleFunc("POST /v1/archive/put", putArchive)
	router.HandleFunc("POST /v1/archive/get", getArchive)
	router.HandleFunc("POST /v1/heartbeat", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return watchdog.wrap(router)
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
// is the child's stdin; the response body carries its stdout, stderr and finally its exit status;
// the `berth-pid` response header names the child (its session id too). A reset stream (the client
// went away) closes all three pipes, as a dropped exec would: the child reads EOF, and gets EPIPE if
// it writes on; it is not killed.
//
// /v1/exec (asCommand) runs one command. Its request body starts with the request itself,
// [length u32 BE][JSON {"argv": [...], "cwd"?: "...", "env"?: {...}}] (a command line can be larger
// than any header), and goes on as the command's stdin. `env` is added to the agent's environment;
// a directory or program that does not exist is reported as a shell would (a message on stderr,
// exit 1 or 127), not as an HTTP error.
func spawn(w http.ResponseWriter, r *http.Request, asCommand bool) {
	var request commandRequest
	if asCommand {
		if err := readCommandRequest(r, &request); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	} else if err := json.Unmarshal([]byte(r.Header.Get("berth-argv")), &request.Argv); err != nil {
		http.Error(w, "berth-argv must be a non-empty JSON array of strings", http.StatusBadRequest)
		return
	}
	argv := request.Argv
	if len(argv) == 0 {
		http.Error(w, "argv must be a non-empty array of strings", http.StatusBadRequest)
		return
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	if asCommand {
		for name, value := range request.Env {
			cmd.Env = append(cmd.Env, name+"="+value)
		}
		if dir := request.Cwd; dir != "" {
			if info, err := os.Stat(dir); err != nil || !info.IsDir() {
				reportCommandFailure(w, 1, fmt.Sprintf("berth: working directory %s does not exist\n", dir))
				return
			}
			cmd.Dir = dir
		}
	}
	// Its own session and process group: a kill aimed at a slot's group can never reach the agent,
	// and the slot shell is already the group leader core's sweep expects.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if user := request.User; user != nil {
		// The slot's own uid and gid and no supplementary groups (isolation: 'user').
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: user.UID, Gid: user.GID, Groups: []uint32{}}
	}
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
	statusOf, err := startReaped(cmd)
	if err != nil {
		output.closeAll()
		if asCommand {
			reportCommandFailure(w, 127, fmt.Sprintf("berth: %s: %v\n", argv[0], err))
			return
		}
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
	w.Header().Set("berth-pid", fmt.Sprint(cmd.Process.Pid))
	w.WriteHeader(http.StatusOK)
	frames := newFrameWriter(w)
	if asCommand {
		// A short command's headers leave with its exit, in one packet; a longer one's (the pid
		// its client may need to signal it) after headerGrace at the latest.
		frames.flushWithin(headerGrace)
	} else {
		frames.flushNow()
	}
	defer frames.done()

	// stdin: copy the request body until it ends, then close the pipe.
	go func() {
		_, _ = io.Copy(stdin, r.Body)
		_ = stdin.Close()
	}()
	pumped := output.pump(frames)
	go func() {
		<-r.Context().Done() // the stream ended: reset by the client, or finished by us
		_ = stdin.Close()
		output.closeReadEnds()
		// Reset before its headers left: the client never learned the pid, so nobody else can stop
		// the command (a timeout or abort within headerGrace), and it already has all its stdin.
		if asCommand && !frames.sentHeaders() {
			killGroupIfUnreaped(cmd.Process.Pid)
		}
	}()
	waitStatus := <-statusOf
	// The child is gone; its output may still be in the pipes, or held open by a process it left
	// behind. Send the rest unless the pipes have gone quiet, then report the exit.
	output.finish(pumped)
	frames.write(frameExit, exitStatus(waitStatus))
}

func exitStatus(ws syscall.WaitStatus) []byte {
	status := map[string]any{}
	if ws.Signaled() {
		status["signal"] = signalName(ws.Signal())
		status["exitCode"] = 128 + int(ws.Signal())
	} else {
		status["exitCode"] = ws.ExitStatus()
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

type commandRequest struct {
	Argv []string          `json:"argv"`
	Cwd  string            `json:"cwd"`
	Env  map[string]string `json:"env"`
	User *slotUser         `json:"user"`
}

// maxCommandRequest bounds the JSON prefix of a /v1/exec body.
const maxCommandRequest = 64 << 20

// readCommandRequest reads the request from the berth-request header (a small one: the whole
// request is then one HEADERS frame) or, without it, from the body prefix.
func readCommandRequest(r *http.Request, request *commandRequest) error {
	raw := []byte(r.Header.Get("berth-request"))
	if len(raw) == 0 {
		var err error
		if raw, err = readPrefix(r.Body); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(raw, request); err != nil {
		return fmt.Errorf("the command request is not valid JSON: %w", err)
	}
	return nil
}

// readPrefix reads the [length u32 BE][bytes] request that starts a body.
func readPrefix(body io.Reader) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(body, header[:]); err != nil {
		return nil, fmt.Errorf("reading the request: %w", err)
	}
	length := binary.BigEndian.Uint32(header[:])
	if length > maxCommandRequest {
		return nil, fmt.Errorf("a request of %d bytes is over the %d limit", length, maxCommandRequest)
	}
	raw := make([]byte, length)
	if _, err := io.ReadFull(body, raw); err != nil {
		return nil, fmt.Errorf("reading the request: %w", err)
	}
	return raw, nil
}

// reportCommandFailure answers as a command that printed message on stderr and exited with code.
func reportCommandFailure(w http.ResponseWriter, code int, message string) {
	w.Header().Set("content-type", "application/vnd.berth.frames")
	w.WriteHeader(http.StatusOK)
	frames := newFrameWriter(w)
	frames.write(frameStderr, []byte(message))
	body, _ := json.Marshal(map[string]any{"exitCode": code})
	frames.write(frameExit, body)
}
