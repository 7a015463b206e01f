//go:build !unix

package main

import (
	"time"

	benchproc "github.com/tributary-io/tributary/bench/internal/proc"
)

// selfCPU is this process's CPU time, where the platform tells it.
func selfCPU() (time.Duration, error) { return benchproc.CPU(0) }
