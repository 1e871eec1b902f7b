#!/usr/bin/env bash
# Fails when the SDK breaks a dependency rule of DESIGN.md:
#  - the SDK go.mod requires directly only grpc, protobuf, zap, backoff/v4, goleak;
#  - a subsystem package depends on no other subsystem nor its genpb package;
#  - transport depends on no subsystem; nothing in the SDK imports the root;
#  - no server-side library (raft, bolt, sketches) reaches the SDK's build;
#  - no exported declaration of a subsystem package mentions a genpb type
#    (TestNoGenpbInExportedAPI in exported_api_test.go, which lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
mod=git.awesomike.com/pub/waymaker-client/go
fail=0
bad() { echo "dependency rule broken: $*" >&2; fail=1; }

allowed='^(google.golang.org/grpc|google.golang.org/protobuf|go.uber.org/zap|github.com/cenkalti/backoff/v4|go.uber.org/goleak)$'
direct=$(GOWORK=off go list -m -f '{{if and (not .Main) (not .Indirect)}}{{.Path}}{{end}}' all)
for m in $direct; do
	[[ $m =~ $allowed ]] || bad "SDK go.mod requires $m directly"
done

subsystems="lock kv stream collections sketch objstore cache cluster auth"
for s in $subsystems; do
	[ -d "$s" ] || continue
	deps=$(go list -deps "./$s")
	for o in $subsystems; do
		[ "$o" = "$s" ] && continue
		if grep -qxE "$mod/($o|genpb/${o}pb)" <<<"$deps"; then
			bad "$s depends on $o"
		fi
	done
	grep -qx "$mod" <<<"$deps" && bad "$s imports the root package"
done
tdeps=$(go list -deps ./transport)
for o in $subsystems; do
	grep -qxE "$mod/($o|genpb/${o}pb)" <<<"$tdeps" && bad "transport depends on $o"
done
for p in $(go list ./... | grep -v "^$mod\$"); do
	go list -deps "$p" | grep -qx "$mod" && bad "$p imports the root package"
done
alldeps=$(go list -deps -test ./...)
for lib in github.com/hashicorp/raft go.etcd.io/bbolt github.com/hashicorp/raft-boltdb github.com/bits-and-blooms github.com/axiomhq/hyperloglog github.com/caio/go-tdigest github.com/nats-io go.etcd.io/etcd github.com/redis; do
	grep -q "^$lib" <<<"$alldeps" && bad "the SDK build pulls $lib"
done
if ! out=$(go test -count=1 -run '^TestNoGenpbInExportedAPI$' . 2>&1); then
	echo "$out" >&2
	bad "a subsystem's exported API shows generated types (listed above)"
fi
[ $fail = 0 ] && echo "dependency rules: ok"
exit $fail
