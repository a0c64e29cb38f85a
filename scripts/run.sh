#!/usr/bin/env bash
# make run: the SLB emulator, drainworker with its embedded JetStream server,
# one sample drain and its outcome event; then it keeps serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
RUN_DIR=${RUN_DIR:-.run}
SLB_LISTEN=${SLB_LISTEN:-127.0.0.1:9100}
NATS_LISTEN=${NATS_LISTEN:-127.0.0.1:4222}
METRICS_ADDR=${METRICS_ADDR:-127.0.0.1:9090}
REGION=cn-hangzhou

# The emulator accepts this key pair; drainworker finds it where the SDK looks
# first, in the environment. Never a real key.
export ALIBABA_CLOUD_ACCESS_KEY_ID=slbsim-ak
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=slbsim-secret

mkdir -p "$RUN_DIR"
pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "== stopping"
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "== stopped; logs are in $RUN_DIR/"
}
trap stop INT TERM EXIT

wait_http() { # url what
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$2 did not come up; see $RUN_DIR/*.log" >&2
	exit 1
}

echo "== starting the SLB emulator on $SLB_LISTEN (5 groups of 20 servers: rsp-sim0001..rsp-sim0005)"
"$BIN/slbsim" --listen "$SLB_LISTEN" --groups 5 --servers 20 --region "$REGION" --latency 30ms \
	>"$RUN_DIR/slbsim.log" 2>&1 &
pids+=($!)

echo "== starting drainworker (embedded JetStream on $NATS_LISTEN, store $RUN_DIR/data, metrics on $METRICS_ADDR)"
"$BIN/drainworker" --embedded-listen "$NATS_LISTEN" --data-dir "$RUN_DIR/data" \
	--slb-endpoint "http://$SLB_LISTEN" --metrics-addr "$METRICS_ADDR" \
	>"$RUN_DIR/drainworker.log" 2>&1 &
pids+=($!)
wait_http "http://$METRICS_ADDR/readyz" drainworker

echo "== publishing a sample drain: 3 servers out of rsp-sim0001"
id="make-run-sample-$(date +%s)"
echo "\$ drainctl drain --region $REGION --group rsp-sim0001 --server i-sim0001-0001:80 --server i-sim0001-0002:80 --server i-sim0001-0003:80 --reason 'make run sample' --request-id $id --wait --verbose"
"$BIN/drainctl" --nats-url "nats://$NATS_LISTEN" drain --region "$REGION" --group rsp-sim0001 \
	--server i-sim0001-0001:80 --server i-sim0001-0002:80 --server i-sim0001-0003:80 \
	--reason "make run sample" --request-id "$id" --wait --verbose
echo
echo "== the same request_id again is the same request: nothing is drained twice, and drainctl shows its stored outcome event"
"$BIN/drainctl" --nats-url "nats://$NATS_LISTEN" drain --region "$REGION" --group rsp-sim0001 \
	--server i-sim0001-0001:80 --server i-sim0001-0002:80 --server i-sim0001-0003:80 \
	--reason "make run sample" --request-id "$id" --wait --json 2>/dev/null

echo
echo "== a graceful drain (version 2): weight 0 first, a 3 s wait, then removal; the event keeps the weights"
gid="make-run-graceful-$(date +%s)"
echo "\$ drainctl drain --region $REGION --group rsp-sim0002 --server i-sim0002-0001:80 --server i-sim0002-0002:80 --graceful --drain-timeout 3s --request-id $gid --wait"
"$BIN/drainctl" --nats-url "nats://$NATS_LISTEN" drain --region "$REGION" --group rsp-sim0002 \
	--server i-sim0002-0001:80 --server i-sim0002-0002:80 --graceful --drain-timeout 3s \
	--reason "make run graceful sample" --request-id "$gid" --wait
echo
echo "== a dry run: what a drain of every server of rsp-sim0003 would do (the guard refuses: it would leave no server)"
for i in $(seq -w 1 20); do echo "i-sim0003-00$i:80"; done >"$RUN_DIR/sim0003.servers"
echo "\$ drainctl drain --region $REGION --group rsp-sim0003 --servers-file $RUN_DIR/sim0003.servers --dry-run --wait"
"$BIN/drainctl" --nats-url "nats://$NATS_LISTEN" drain --region "$REGION" --group rsp-sim0003 \
	--servers-file "$RUN_DIR/sim0003.servers" --dry-run --reason "make run dry run" --wait || true
echo
echo "== restore: the graceful drain undone, weights from its event"
echo "\$ drainctl restore $gid --wait"
"$BIN/drainctl" --nats-url "nats://$NATS_LISTEN" restore "$gid" --wait

cat <<MSG

== slbdrain is running. Try, in another terminal:
   $BIN/drainctl drain --region $REGION --group rsp-sim0002 --server i-sim0002-0001:80 --wait
   $BIN/drainctl watch
   $BIN/drainctl status --metrics-url http://$METRICS_ADDR
   curl -s http://$METRICS_ADDR/metrics | grep ^slbdrain_
   logs: $RUN_DIR/drainworker.log, $RUN_DIR/slbsim.log
   Ctrl-C stops everything.
MSG
wait
