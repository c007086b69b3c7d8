package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// /v1/clean: a slot's release in one request, without a process. It kills every process of the
// slot's leases (found by the BERTH_LEASE marker in its environment, or owned by the slot's uid),
// then optionally empties the workspace in O(1): renamed into the trash and recreated, the old tree
// deleted in the background. The shell protocol's prelude does the same in sh (core's
// shell-script.ts); this is its in-host runtime twin, an order of magnitude faster.

type cleanRequest struct {
	// LeasePrefix: kill processes whose environment holds BERTH_LEASE=<LeasePrefix>…
	LeasePrefix string `json:"leasePrefix"`
	// Users: also kill every process owned by one of these uids (isolation: 'user').
	Users []uint32 `json:"users"`
	Reset *struct {
		Directory string    `json:"directory"`
		Trash     string    `json:"trash"`
		Owner     *slotUser `json:"owner"`
	} `json:"reset"`
}

type cleanResponse struct {
	Killed   int      `json:"killed"`
	Warnings []string `json:"warnings"`
}

func clean(w http.ResponseWriter, r *http.Request) {
	var request cleanRequest
	if err := readPrefixed(r.Body, &request); err != nil || (request.LeasePrefix == "" && len(request.Users) == 0) {
		http.Error(w, "expected a JSON prefix with a leasePrefix or users", http.StatusBadRequest)
		return
	}
	response := cleanResponse{Warnings: []string{}}
	response.Killed = killMatching(request.LeasePrefix, request.Users)
	if reset := request.Reset; reset != nil {
		warnings, err := emptyDirectory(reset.Directory, reset.Trash, reset.Owner)
		response.Warnings = append(response.Warnings, warnings...)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("content-type", "application/json")
	_ = json.NewEncoder(w).Encode(response)
}

// killMatching stops, then kills, every matching process, in rounds until none is left (one may
// fork between a scan and the kill), for a bounded number of rounds. Returns how many it killed.
func killMatching(leasePrefix string, users []uint32) int {
	marker := []byte("BERTH_LEASE=" + leasePrefix)
	self := os.Getpid()
	killed := 0
	for round := 0; round < 5; round++ {
		victims := matchingProcesses(marker, leasePrefix != "", users, self)
		if len(victims) == 0 {
			return killed
		}
		for _, pid := range victims {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
		}
		for _, pid := range victims {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		killed += len(victims)
		reapExited()
	}
	return killed
}

func matchingProcesses(marker []byte, byMarker bool, users []uint32, self int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var found []int
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil || pid == self || pid == 1 {
			continue
		}
		if len(users) > 0 {
			if info, err := os.Stat("/proc/" + entry.Name()); err == nil {
				if stat, ok := info.Sys().(*syscall.Stat_t); ok && containsUID(users, stat.Uid) && !isZombie(pid) {
					found = append(found, pid)
					continue
				}
			}
		}
		if byMarker {
			environ, err := os.ReadFile("/proc/" + entry.Name() + "/environ")
			if err == nil && hasEnvPrefix(environ, marker) && !isZombie(pid) {
				found = append(found, pid)
			}
		}
	}
	return found
}

func containsUID(users []uint32, uid uint32) bool {
	for _, user := range users {
		if user == uid {
			return true
		}
	}
	return false
}

// hasEnvPrefix: one NUL-separated entry of environ starts with marker.
func hasEnvPrefix(environ, marker []byte) bool {
	for _, entry := range bytes.Split(environ, []byte{0}) {
		if bytes.HasPrefix(entry, marker) {
			return true
		}
	}
	return false
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	at := bytes.LastIndexByte(stat, ')')
	return at < 0 || at+2 >= len(stat) || stat[at+2] == 'Z'
}

// emptyDirectory empties directory (dotfiles included, symlinks never followed). It renames it into
// trash only when that cannot become a copy or a move out of the host's own directories (trash and
// its parent are real directories on the same filesystem); else it deletes in place. A background
// delete that failed leaves <name>.err (written whole, once it failed); the next reset reports it.
func emptyDirectory(directory, trash string, owner *slotUser) ([]string, error) {
	warnings := reportFailedDeletes(trash)
	mode := fs.FileMode(0o755)
	if owner != nil {
		mode = 0o700
	}
	moved := false
	if realDirectory(filepath.Dir(trash)) && (realDirectory(trash) || os.Mkdir(trash, 0o700) == nil) && sameDevice(directory, trash) {
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		name := filepath.Join(trash, fmt.Sprintf("%s.%d.%s", filepath.Base(directory), time.Now().UnixNano(), hex.EncodeToString(suffix)))
		if os.Rename(directory, name) == nil {
			moved = true
			go deleteInBackground(name)
		}
	}
	if !moved {
		if realDirectory(directory) { // never walk into what a planted symlink points at
			makeWritable(directory)
		}
		if err := os.RemoveAll(directory); err != nil {
			return warnings, fmt.Errorf("emptying %s: %w", directory, err)
		}
	}
	if err := os.Mkdir(directory, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return warnings, fmt.Errorf("recreating %s: %w", directory, err)
	}
	if err := os.Chmod(directory, mode); err != nil {
		return warnings, err
	}
	if owner != nil {
		if err := os.Lchown(directory, int(owner.UID), int(owner.GID)); err != nil {
			return warnings, fmt.Errorf("giving %s to uid %d: %w", directory, owner.UID, err)
		}
	}
	return warnings, nil
}

func deleteInBackground(name string) {
	makeWritable(name)
	if err := os.RemoveAll(name); err != nil {
		temporary := name + ".err.tmp"
		if os.WriteFile(temporary, []byte(err.Error()+"\n"), 0o600) == nil {
			_ = os.Rename(temporary, name+".err")
		}
	}
}

// reportFailedDeletes returns (and clears) what earlier background deletes left in trash/*.err.
func reportFailedDeletes(trash string) []string {
	matches, _ := filepath.Glob(filepath.Join(trash, "*.err"))
	warnings := []string{}
	for _, match := range matches {
		said, err := os.ReadFile(match)
		if err != nil {
			continue
		}
		warnings = append(warnings, string(bytes.TrimSpace(said)))
		_ = os.Remove(match)
	}
	return warnings
}

func realDirectory(path string) bool {
	info, err := os.Lstat(path)
	return err == nil && info.IsDir()
}

func sameDevice(a, b string) bool {
	infoA, errA := os.Lstat(a)
	infoB, errB := os.Lstat(b)
	if errA != nil || errB != nil || !infoA.IsDir() {
		return false
	}
	statA, okA := infoA.Sys().(*syscall.Stat_t)
	statB, okB := infoB.Sys().(*syscall.Stat_t)
	return okA && okB && statA.Dev == statB.Dev
}

// makeWritable gives the owner rwx on every directory below root (as `chmod -R u+rwX` would for
// directories), so read-only trees such as a Go module cache can be removed. Symlinks are not followed.
func makeWritable(root string) {
	_ = filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err == nil && entry.IsDir() {
			if info, err := entry.Info(); err == nil && info.Mode().Perm()&0o700 != 0o700 {
				_ = os.Chmod(path, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}
