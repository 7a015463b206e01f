package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/tributary-io/tributary/bench/internal/host"
)

// inTempDir runs fn in a fresh directory under parent and removes it after.
func inTempDir(parent string, fn func(dir string) error) (err error) {
	dir, err := os.MkdirTemp(parent, "aggbench-")
	if err != nil {
		return fmt.Errorf("make run directory: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove run directory: %w", rmErr))
		}
	}()
	return fn(dir)
}

func fsKind(dir string) string { return host.FSKind(dir) }
