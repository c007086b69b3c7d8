package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
)

// Files without an engine archive call or a process: one request each. Both bodies (write) and
// requests start with [length u32 BE][JSON], as /v1/exec does.

type fileRequest struct {
	Path string    `json:"path"`
	Mode uint32    `json:"mode"`
	User *slotUser `json:"user"`
}

// writeFile replaces the file at path with the rest of the body: written to a temporary name in
// the same directory, then renamed over the target, so a reader never sees half a file and a
// symlink planted at path is replaced, not followed. Missing parent directories are created.
func writeFile(w http.ResponseWriter, r *http.Request) {
	var request fileRequest
	if err := readPrefixed(r.Body, &request); err != nil || request.Path == "" {
		http.Error(w, "expected a JSON prefix with a path", http.StatusBadRequest)
		return
	}
	if err := asFileUser(request.User, func() error { writeFileAs(w, r, request); return nil }); err != nil {
		fileError(w, err)
	}
}

func writeFileAs(w http.ResponseWriter, r *http.Request, request fileRequest) {
	directory := filepath.Dir(request.Path)
	if err := os.MkdirAll(directory, 0o755); err != nil {
		fileError(w, err)
		return
	}
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	temporary := filepath.Join(directory, ".berth-write-"+hex.EncodeToString(suffix))
	mode := fs.FileMode(request.Mode & 0o7777)
	if mode == 0 {
		mode = 0o644
	}
	file, err := os.OpenFile(temporary, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		fileError(w, err)
		return
	}
	_, copyErr := io.Copy(file, r.Body)
	closeErr := file.Close()
	if err := errors.Join(copyErr, closeErr, os.Chmod(temporary, mode)); err != nil {
		_ = os.Remove(temporary)
		fileError(w, err)
		return
	}
	if err := os.Rename(temporary, request.Path); err != nil {
		_ = os.Remove(temporary)
		fileError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readFile answers with the bytes of the regular file at path: 404 when nothing is there, 409 for
// anything that is not a regular file.
func readFile(w http.ResponseWriter, r *http.Request) {
	var request fileRequest
	if err := readPrefixed(r.Body, &request); err != nil || request.Path == "" {
		http.Error(w, "expected a JSON prefix with a path", http.StatusBadRequest)
		return
	}
	if err := asFileUser(request.User, func() error { readFileAs(w, request); return nil }); err != nil {
		fileError(w, err)
	}
}

func readFileAs(w http.ResponseWriter, request fileRequest) {
	file, err := os.Open(request.Path)
	if err != nil {
		fileError(w, err)
		return
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		fileError(w, err)
		return
	}
	if !info.Mode().IsRegular() {
		http.Error(w, request.Path+" is not a regular file", http.StatusConflict)
		return
	}
	w.Header().Set("content-type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, file)
}

func fileError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		status = http.StatusNotFound
	case errors.Is(err, fs.ErrPermission):
		status = http.StatusForbidden
	}
	http.Error(w, err.Error(), status)
}

func readPrefixed(body io.Reader, into any) error {
	raw, err := readPrefix(body)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}
