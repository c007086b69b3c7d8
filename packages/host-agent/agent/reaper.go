package main

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The agent is the child subreaper of everything it starts: a process a command orphans (`setsid
// cmd &`, a double fork, a daemon) reparents to the agent instead of to the host's init, so it stays
// in the agent's process tree, where killDescendants finds it when the client goes away. The agent
// therefore reaps every child itself, in one place: exec.Cmd.Wait would race a wait4(-1) for the
// same pids, so spawned processes register a channel for their status instead.

const prSetChildSubreaper = 36

var (
	reapMu  sync.Mutex
	waiters = map[int]chan syscall.WaitStatus{}
)

// becomeSubreaper asks the kernel to reparent orphaned descendants to this process, and starts
// reaping on SIGCHLD. Without the prctl (a kernel before 3.4) orphans go to init as before.
func becomeSubreaper() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	children := make(chan os.Signal, 16)
	signal.Notify(children, syscall.SIGCHLD)
	// A client gone mid-write must not kill the agent by SIGPIPE (its stdout is the connection)
	// before it kills what it started. A handler, not SIG_IGN: an ignored signal stays ignored in
	// every program the agent executes, and pipelines rely on SIGPIPE.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	go func() {
		for range children {
			reapExited()
		}
	}()
}

// reapExited collects every child that has exited: registered ones hand their status to whoever
// waits for them, orphans are simply reaped so no zombie holds a pid.
func reapExited() {
	reapMu.Lock()
	defer reapMu.Unlock()
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		if waiter, ok := waiters[pid]; ok {
			delete(waiters, pid)
			waiter <- status
		}
	}
}

// startReaped starts cmd and returns a channel that receives its wait status once it exits. The
// reaper's lock is held across Start, so a child that exits at once is still matched to its waiter.
func startReaped(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	reapMu.Lock()
	defer reapMu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan syscall.WaitStatus, 1)
	waiters[cmd.Process.Pid] = done
	return done, nil
}

// killGroupIfUnreaped kills the process group a command leads, unless the command was reaped
// already: holding the reaper's lock, its pid (and so its group id) cannot have been reused.
func killGroupIfUnreaped(pid int) {
	reapMu.Lock()
	defer reapMu.Unlock()
	if _, waiting := waiters[pid]; waiting {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// killDescendants stops and kills every process below the agent, repeating until none is left (a
// forking process may add children between one scan and the kill), for a bounded number of rounds.
func killDescendants() {
	self := os.Getpid()
	for round := 0; round < 10; round++ {
		victims := descendantsOf(self)
		if len(victims) == 0 {
			return
		}
		// Stop first, so no victim can fork a child the KILL round would miss.
		for _, pid := range victims {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
		}
		for _, pid := range victims {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
		reapExited()
	}
}

// descendantsOf lists the live (not zombie) processes whose parent chain reaches root, from /proc.
func descendantsOf(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parentOf := map[int]int{}
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + entry.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: fields start after the last ')'.
		text := string(stat)
		fields := strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			parentOf[pid] = ppid
		}
	}
	var found []int
	for pid := range parentOf {
		for at, hops := pid, 0; at > 1 && hops < 1024; at, hops = parentOf[at], hops+1 {
			if parentOf[at] == root {
				found = append(found, pid)
				break
			}
		}
	}
	return found
}
