//go:build !linux

package proc

import (
	"errors"
	"time"
)

// CPU needs /proc.
func CPU(int) (time.Duration, error) { return 0, errors.New("needs Linux (/proc)") }
