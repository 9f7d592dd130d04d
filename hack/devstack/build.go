package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
)

// binary is a function built and ready to run.
type binary struct {
	fn   function
	path string
}

// buildAll builds every function that exists into dataDir/bin, skipping
// those whose package has no Go files yet. Compiler output goes to the
// function's stream of out.
func buildAll(ctx context.Context, log *slog.Logger, cfg config, out *mux) ([]binary, error) {
	binDir := filepath.Join(cfg.dataDir, "bin")
	if err := ensureDir(binDir); err != nil {
		return nil, err
	}
	var bins []binary
	for _, fn := range cfg.functions {
		if ok, src := written(fn); !ok {
			log.Warn("skipping function that does not exist yet", "function", fn.name, "dir", src)
			continue
		}
		log.Info("building", "function", fn.name, "package", fn.pkg)
		path, err := build(ctx, fn, binDir, out.writer(fn.name))
		if err != nil {
			return nil, err
		}
		bins = append(bins, binary{fn, path})
	}
	return bins, nil
}

// written reports whether fn's package directory has Go files yet, and
// names the directory.
func written(fn function) (bool, string) {
	src := filepath.Join(fn.dir, fn.pkg)
	files, _ := filepath.Glob(filepath.Join(src, "*.go"))
	return len(files) > 0, src
}

// build compiles fn into binDir and returns the binary's absolute path.
// Compiler output goes to w.
func build(ctx context.Context, fn function, binDir string, w *prefixWriter) (string, error) {
	bin, err := filepath.Abs(filepath.Join(binDir, fn.name))
	if err != nil {
		return "", fmt.Errorf("build %s: %w", fn.name, err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, fn.pkg)
	cmd.Dir = fn.dir
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Run()
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return "", fmt.Errorf("build %s: go build %s: %w", fn.name, fn.pkg, err)
	}
	return bin, nil
}
