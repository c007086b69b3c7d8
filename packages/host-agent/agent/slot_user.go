package main

import (
	"fmt"
	"runtime"
	"syscall"
)

// slotUser is the uid/gid a slot runs as under isolation: 'user'.
type slotUser struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// asFileUser runs op with user's file permissions (nil: the agent's own). Linux keeps the
// filesystem uid, gid and groups per thread, and the raw syscalls (unlike libc's) change only the
// calling thread; a nonzero fsuid also drops root's file capabilities (CAP_DAC_OVERRIDE, …) from
// it. The goroutine locks its thread and never unlocks it, so Go ends that thread afterwards, and
// no other goroutine ever runs with these credentials.
func asFileUser(user *slotUser, op func() error) error {
	if user == nil {
		return op()
	}
	result := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, errno := syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0); errno != 0 {
			result <- fmt.Errorf("setgroups: %w", errno)
			return
		}
		syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(user.GID), 0, 0)
		syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(user.UID), 0, 0)
		// setfsuid/setfsgid return the previous id and no error: ask again to see that they took.
		gid, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(user.GID), 0, 0)
		uid, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(user.UID), 0, 0)
		if uint32(uid) != user.UID || uint32(gid) != user.GID {
			result <- fmt.Errorf("cannot act as uid %d gid %d (the agent needs CAP_SETUID and CAP_SETGID)", user.UID, user.GID)
			return
		}
		result <- op()
	}()
	return <-result
}
