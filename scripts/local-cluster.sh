#!/usr/bin/env bash
# Starts a local three-node waymaker cluster on loopback and keeps it in the
# foreground until Ctrl-C, which stops every node:
#
#   scripts/local-cluster.sh            # data under a new temporary directory
#   scripts/local-cluster.sh ./cluster  # data under ./cluster (kept: rerun to restart)
#   scripts/local-cluster.sh --tls [dir] # TLS everywhere: mutual TLS on the client and
#                                        # raft ports, with development certificates
#                                        # (waymakerd --dev-certs) under dir/certs
#
# Clients reach it with WAYMAKER_ADDR=127.0.0.1:8818,127.0.0.1:8819,127.0.0.1:8820
# (go run ./examples/tour, wm --server ..., go run ./tools/bench).
set -euo pipefail
cd "$(dirname "$0")/.."
tls=
if [[ "${1:-}" == "--tls" ]]; then
	tls=1
	shift
fi
data=${1:-$(mktemp -d -t waymaker-cluster.XXXXXX)}
bin="$data/waymakerd"
mkdir -p "$data"
(cd server && go build -o "$bin" ./cmd/waymakerd)
tlsflags=()
if [[ -n "$tls" ]]; then
	certs="$data/certs"
	[[ -f "$certs/ca.pem" ]] || "$bin" --dev-certs "$certs" >/dev/null
	tlsflags=(--tls-cert "$certs/node.pem" --tls-key "$certs/node-key.pem" --client-ca "$certs/ca.pem"
		--peer-tls-cert "$certs/node.pem" --peer-tls-key "$certs/node-key.pem" --peer-ca "$certs/ca.pem")
fi
boot="n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for i in 1 2 3; do
	"$bin" --node-id "n$i" --listen "127.0.0.1:$((8817 + i))" --raft-listen "127.0.0.1:$((7000 + i))" \
		--data-dir "$data/n$i" --bootstrap "$boot" --log-format console ${tlsflags[@]+"${tlsflags[@]}"} 2>"$data/n$i.log" &
	pids+=($!)
done
echo "three nodes on 127.0.0.1:8818, :8819, :8820 (raft :7001-:7003); logs and data in $data"
echo "export WAYMAKER_ADDR=127.0.0.1:8818,127.0.0.1:8819,127.0.0.1:8820"
if [[ -n "$tls" ]]; then
	echo "export WAYMAKER_TLS_CA=$certs/ca.pem WAYMAKER_TLS_CERT=$certs/client.pem WAYMAKER_TLS_KEY=$certs/client-key.pem"
	echo "(wm: --tls-ca $certs/ca.pem --tls-cert $certs/client.pem --tls-key $certs/client-key.pem)"
fi
echo "Ctrl-C stops the cluster."
wait
