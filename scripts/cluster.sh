#!/usr/bin/env bash
# cluster.sh runs the central ledger as three replica processes and two
# banks on this machine, as `make cluster` does, until Ctrl-C. Kill the
# leader (its pid is printed; /readyz says which replica leads) and watch
# the others elect a new one while the banks carry on. For the same in
# front of a room, with the demo page showing the replicas and stopping
# the leader, run `make demo-replicas` (cbdc sandbox -replicas 3).
set -euo pipefail
BIN=${BIN:-bin/cbdc}
DATA=${DATA:-data/cluster}
mkdir -p "$DATA"
peers=ledger-1=127.0.0.1:7611,ledger-2=127.0.0.1:7612,ledger-3=127.0.0.1:7613
ledgers=http://127.0.0.1:7601,http://127.0.0.1:7602,http://127.0.0.1:7603
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait' EXIT
trap 'exit 0' INT TERM

for i in 1 2 3; do
	"$BIN" ledger -replica "ledger-$i" -raft "127.0.0.1:761$i" -peers "$peers" -data "$DATA/replica-$i" \
		-credentials "$DATA/credentials" -listen "127.0.0.1:760$i" -banks 2 >"$DATA/replica-$i.log" 2>&1 &
	pids+=($!)
	echo "ledger-$i: pid $!, http://127.0.0.1:760$i (readyz says its role), log $DATA/replica-$i.log"
done

# A bank starts once the leader has opened its account: try until it stays up.
for b in 1 2; do
	for try in $(seq 50); do
		"$BIN" bank -id "bank-$b" -ledger "$ledgers" -key "$DATA/credentials/bank-$b.key" -data "$DATA/bank-$b" \
			-listen "127.0.0.1:750$b" -holder-key "$DATA/holder.key" >"$DATA/bank-$b.log" 2>&1 &
		pid=$!
		sleep 1
		if kill -0 "$pid" 2>/dev/null; then
			pids+=("$pid")
			echo "bank-$b: pid $pid, wallets at ws://127.0.0.1:750$b/v1/wallet, log $DATA/bank-$b.log"
			break
		fi
		[ "$try" = 50 ] && { echo "bank-$b did not start; see $DATA/bank-$b.log"; exit 1; }
	done
done
echo "cluster up; Ctrl-C stops it"
wait
