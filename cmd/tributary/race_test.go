//go:build race

package main

// raceBuild builds the binary the tests run with the race detector too,
// when the tests themselves run with it: the demo, verify and crash tests
// run the binary, so its code is race-checked only this way.
const raceBuild = true
