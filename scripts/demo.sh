#!/usr/bin/env bash
# scripts/demo.sh: from a fresh Debian 12 machine to Halqa's main job.
#
# Installs what is missing, builds, and runs what exists today. It says
# plainly what is not there yet rather than pretending.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
echo "== building Halqa"
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
echo "built: $(ls build/bin | tr '\n' ' ')"
echo

echo "== the MLS interop vectors Halqa passes today"
for f in tests/vectors/mls/*.json; do
  kind=$(basename "$f" .json)
  ./build/bin/mls-vectors "$kind" "$f"
done
echo

if [ -x build/bin/halqad ]; then
  echo "== a relay on loopback"
  relay_dir=$(mktemp -d)
  relay_pid=
  stop_relay() {
    if [ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null; then
      kill -TERM "$relay_pid" 2>/dev/null || true
      wait "$relay_pid" 2>/dev/null || true
    fi
    rm -rf "$relay_dir"
  }
  trap stop_relay EXIT
  # A loopback port nobody listens on.
  port=17400
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "\$ halqad init --data DIR --listen tcp://127.0.0.1:$port"
  ./build/bin/halqad init --data "$relay_dir/data" --listen "tcp://127.0.0.1:$port" 2>/dev/null
  ./build/bin/halqad run --data "$relay_dir/data" 2>"$relay_dir/halqad.log" &
  relay_pid=$!
  for _ in $(seq 1 100); do
    [ -S "$relay_dir/data/admin.sock" ] && break
    sleep 0.05
  done
  echo "\$ halqad invite --data DIR --uses 2 --expires 1d"
  ./build/bin/halqad invite --data "$relay_dir/data" --uses 2 --expires 1d 2>/dev/null
  echo "\$ halqad status --data DIR"
  ./build/bin/halqad status --data "$relay_dir/data"
  echo

  if [ -x build/bin/halqa ]; then
    echo "== two advocates set up the client and exchange contact cards"
    echo "   (test KDF profile: fast and INSECURE, for demos only)"
    address=$(./build/bin/halqad address --data "$relay_dir/data" 2>/dev/null | grep '^halqa-relay:')
    export HALQA_PASSPHRASE="demo passphrase, not a real one"
    for who in Amira Noor; do
      home="$relay_dir/$who"
      echo "\$ halqa --home $who init --name $who --kdf-profile test"
      ./build/bin/halqa --home "$home" init --name "$who" --kdf-profile test
      ./build/bin/halqa --home "$home" relay set "$address" >/dev/null
    done
    card_amira=$(./build/bin/halqa --home "$relay_dir/Amira" whoami --json | sed -n 's/.*"card": *"\([^"]*\)".*/\1/p')
    card_noor=$(./build/bin/halqa --home "$relay_dir/Noor" whoami --json | sed -n 's/.*"card": *"\([^"]*\)".*/\1/p')
    echo "\$ halqa --home Amira whoami"
    ./build/bin/halqa --home "$relay_dir/Amira" whoami
    echo "\$ halqa --home Amira contact add noor CARD-OF-NOOR"
    ./build/bin/halqa --home "$relay_dir/Amira" contact add noor "$card_noor"
    ./build/bin/halqa --home "$relay_dir/Noor" contact add amira "$card_amira" >/dev/null
    echo "\$ halqa --home Amira contact verify noor     # compare this number with Noor's, out of band"
    ./build/bin/halqa --home "$relay_dir/Amira" contact verify noor || true
    echo "\$ halqa --home Noor contact verify amira --yes"
    ./build/bin/halqa --home "$relay_dir/Noor" contact verify amira --yes
    echo "\$ halqa --home Noor contact list"
    ./build/bin/halqa --home "$relay_dir/Noor" contact list
    unset HALQA_PASSPHRASE
    echo
  fi
  kill -TERM "$relay_pid"
  wait "$relay_pid" || true
  relay_pid=
  echo "relay log:"
  sed 's/^/  /' "$relay_dir/halqad.log"
  stop_relay
  trap - EXIT
  echo
fi

echo "== not there yet: circles and messages in the client."
echo "   The MLS group layer they run on is built and tested (proto/mls_group.c,"
echo "   tests/test_mls_group.c); the client's circle, send, read and chat commands"
echo "   are the next step, and this demo will then run a live circle conversation."
