#!/bin/sh
# Regenerates genpb/ from proto/ with the generator versions pinned in tools/go.mod.
# Usage (from the repository root): go generate .
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.bin"
mkdir -p "$bin"
(cd "$root/tools" && GOWORK=off GOBIN="$bin" go install \
	github.com/bufbuild/buf/cmd/buf \
	google.golang.org/protobuf/cmd/protoc-gen-go \
	google.golang.org/grpc/cmd/protoc-gen-go-grpc)
cd "$root"
rm -rf genpb
PATH="$bin:$PATH" buf generate
