package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Tar in and out without an engine archive call: /v1/archive/put extracts the tar stream that
// follows its JSON prefix into a directory, /v1/archive/get answers a tar of a file or a tree.
// With "user" both run with that user's file permissions (see asFileUser). Neither ever writes or
// reads through a symlink: a planted link is stored or replaced as a link, never followed.

type archiveRequest struct {
	Path string    `json:"path"`
	User *slotUser `json:"user"`
}

func putArchive(w http.ResponseWriter, r *http.Request) {
	var request archiveRequest
	if err := readPrefixed(r.Body, &request); err != nil || !filepath.IsAbs(request.Path) {
		http.Error(w, "expected a JSON prefix with an absolute path", http.StatusBadRequest)
		return
	}
	err := asFileUser(request.User, func() error { return extract(tar.NewReader(r.Body), filepath.Clean(request.Path)) })
	if err != nil {
		fileError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// extract writes each entry below root. Names that leave root (absolute, `..`) and entries whose
// parent is not a real directory below root (a symlink an earlier entry or a lessee made) are
// refused; links may point anywhere, as in any tar, since they are never followed here.
func extract(archive *tar.Reader, root string) error {
	if info, err := os.Lstat(root); err != nil {
		return err
	} else if !info.IsDir() {
		return fmt.Errorf("%s is not a directory: %w", root, fs.ErrInvalid)
	}
	for {
		header, err := archive.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		name := filepath.Clean(strings.TrimPrefix(header.Name, "./"))
		if name == "." {
			continue
		}
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("archive entry %q leaves the target directory: %w", header.Name, fs.ErrPermission)
		}
		target := filepath.Join(root, name)
		if err := realParents(root, filepath.Dir(name)); err != nil {
			return err
		}
		mode := fs.FileMode(header.Mode) & fs.ModePerm
		switch header.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, mode|0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if info, err := os.Lstat(target); err != nil || !info.IsDir() {
				return fmt.Errorf("%s exists and is not a directory: %w", target, fs.ErrExist)
			}
			_ = os.Chmod(target, mode)
		case tar.TypeReg:
			if err := writeEntry(target, archive, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = os.Remove(target)
			if err := os.Symlink(header.Linkname, target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q has type %q, which is not extracted (files, directories and symlinks are)", header.Name, string(header.Typeflag))
		}
	}
}

// realParents makes every component of relative (below root) a real directory: a missing one is
// created (as tar does for entries whose directories the archive does not list), a symlink or a
// file in the way is refused.
func realParents(root, relative string) error {
	at := root
	for _, part := range strings.Split(relative, string(filepath.Separator)) {
		if part == "." || part == "" {
			continue
		}
		at = filepath.Join(at, part)
		info, err := os.Lstat(at)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(at, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if !info.IsDir() {
			return fmt.Errorf("%s is not a directory (a symlink is never followed): %w", at, fs.ErrPermission)
		}
	}
	return nil
}

// writeEntry replaces target with the entry's bytes (temporary name, then rename: a symlink at
// target is replaced, not followed).
func writeEntry(target string, from io.Reader, mode fs.FileMode) error {
	temporary := filepath.Join(filepath.Dir(target), ".berth-extract-"+filepath.Base(target))
	file, err := os.OpenFile(temporary, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, copyErr := io.Copy(file, from)
	if err := errors.Join(copyErr, file.Close(), os.Chmod(temporary, mode), os.Rename(temporary, target)); err != nil {
		_ = os.Remove(temporary)
		return err
	}
	return nil
}

func getArchive(w http.ResponseWriter, r *http.Request) {
	var request archiveRequest
	if err := readPrefixed(r.Body, &request); err != nil || !filepath.IsAbs(request.Path) {
		http.Error(w, "expected a JSON prefix with an absolute path", http.StatusBadRequest)
		return
	}
	path := filepath.Clean(request.Path)
	started := false
	err := asFileUser(request.User, func() error {
		if _, err := os.Lstat(path); err != nil {
			return err
		}
		w.Header().Set("content-type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		started = true
		archive := tar.NewWriter(w)
		if err := addTree(archive, path, filepath.Base(path)); err != nil {
			return err
		}
		return archive.Close()
	})
	if err != nil && !started {
		fileError(w, err)
		return
	}
	if err != nil {
		// Too late for a status: cut the stream so the client sees a truncated archive.
		panic(http.ErrAbortHandler)
	}
}

// addTree stores path as name: a symlink as a link (never followed), a directory with everything
// below it, a regular file with its bytes. Other kinds (sockets, devices) are skipped.
func addTree(archive *tar.Writer, path, name string) error {
	info, err := os.Lstat(path)
	if err != nil {
		return err
	}
	link := ""
	if info.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	} else if !info.IsDir() && !info.Mode().IsRegular() {
		return nil
	}
	header, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	header.Name = name
	if info.IsDir() {
		header.Name += "/"
	}
	if err := archive.WriteHeader(header); err != nil {
		return err
	}
	switch {
	case info.Mode().IsRegular():
		file, err := os.Open(path)
		if err != nil {
			return err
		}
		defer file.Close()
		_, err = io.Copy(archive, file)
		return err
	case info.IsDir():
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, entry := range entries {
			if err := addTree(archive, filepath.Join(path, entry.Name()), name+"/"+entry.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}
