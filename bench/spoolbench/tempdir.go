package main

import (
	"errors"
	"fmt"
	"os"
)

// inTempDir runs fn in a fresh directory under parent and removes it after.
func inTempDir(parent string, fn func(dir string) error) (err error) {
	dir, err := os.MkdirTemp(parent, "spoolbench-")
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
