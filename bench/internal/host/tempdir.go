package host

import (
	"errors"
	"fmt"
	"os"
)

// InTempDir runs fn in a fresh directory under parent, named prefix and a
// random suffix, and removes it after; an error removing it joins fn's.
func InTempDir(parent, prefix string, fn func(dir string) error) (err error) {
	dir, err := os.MkdirTemp(parent, prefix)
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
