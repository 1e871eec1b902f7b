//go:build tools

// Package gen pins the code generators that write genpb/ (buf and the two
// protoc plugins), so that scripts/genproto.sh always builds the same
// versions. It is a module of its own and stays out of go.work: buf's
// dependency graph names modules the public proxy does not serve, and Go
// 1.26.7, neither of which the SDK, the server or their users need.
// Build from here with GOWORK=off.
package gen

import (
	_ "github.com/bufbuild/buf/cmd/buf"
	_ "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
