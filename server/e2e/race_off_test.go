//go:build !race

package e2e

// raceEnabled: the race detector slows the server several times over, so
// the tests that load much data load less.
const raceEnabled = false
