//go:build !unix

package proc

import (
	"errors"
	"time"
)

// SelfCPU is unknown without getrusage.
func SelfCPU() (time.Duration, error) { return 0, errors.New("needs getrusage (unix)") }
