#!/bin/sh
# Regenerates genpb/ from proto/ with the generator versions pinned in tools/gen/go.mod.
# Usage (from the repository root): go generate .
# tools/gen is a module of its own outside go.work (buf needs Go 1.26.7 and
# modules the SDK's users never fetch), so it is built with GOWORK=off.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.bin"
mkdir -p "$bin"
(cd "$root/tools/gen" && GOWORK=off GOBIN="$bin" go install \
	github.com/bufbuild/buf/cmd/buf \
	google.golang.org/protobuf/cmd/protoc-gen-go \
	google.golang.org/grpc/cmd/protoc-gen-go-grpc)
cd "$root"
rm -rf genpb
PATH="$bin:$PATH" buf generate
