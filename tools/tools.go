//go:build tools

// Package tools pins the linter this repository runs (staticcheck), so that
// `go install` from this module always builds the same version. The code
// generators are pinned apart, in tools/gen, which stays out of go.work.
package tools

import (
	_ "honnef.co/go/tools/cmd/staticcheck"
)
