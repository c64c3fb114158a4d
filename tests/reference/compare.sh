#!/usr/bin/env bash
# Runs `clavox bench` against Clavox and against the Node.js reference
# (server.js here) on this machine, one after the other, with the same
# settings, printing both tables and keeping both results as JSON.
#
#   tests/reference/compare.sh [extra clavox bench flags...]
#
# Needs Node.js; builds the release binary if it is missing. Results go to
# ./bench-clavox.json and ./bench-reference.json. The reference knows no
# message changes (the original design had none), so its history scenario
# leaves them out.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
clavox="${CLAVOX_BIN:-$repo/target/release/clavox}"
[ -x "$clavox" ] || (cd "$repo" && cargo build --release --locked)
(cd "$repo/tests/reference" && [ -d node_modules ] || npm ci --no-audit --no-fund)

reference_port=5100
webhook_port=5199

echo "== Clavox (/ws), on a server the bench starts"
"$clavox" bench "$@" --json-file bench-clavox.json

echo "== the Node.js reference (Socket.IO), at http://127.0.0.1:$reference_port"
PORT=$reference_port OTP_WEBHOOK_URL="http://127.0.0.1:$webhook_port/otp" \
  node "$repo/tests/reference/server.js" > /dev/null &
reference=$!
trap 'kill $reference 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$reference_port/healthz" > /dev/null && break
  sleep 0.1
done
"$clavox" bench "$@" --json-file bench-reference.json --url "http://127.0.0.1:$reference_port" --server-pid "$reference" \
  --otp-listen "127.0.0.1:$webhook_port" --protocol socketio \
  --scenario fanout,max,idle,history --history-changes 0

echo "results: bench-clavox.json, bench-reference.json"
