//go:build !linux

package main

import (
	"errors"
)

// errNotLinux: the bench reads brokers' CPU and memory from /proc.
var errNotLinux = errors.New("mqttbench runs on Linux only: it reads the brokers' CPU time and memory from /proc")

func procRSS(int) (int64, error) { return 0, errNotLinux }

func raiseNoFile() (uint64, error) { return 0, errNotLinux }

func pinSelf(int) error { return errNotLinux }
