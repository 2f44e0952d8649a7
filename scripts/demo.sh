#!/usr/bin/env bash
# scripts/demo.sh: Halqa's main job, on a fresh Debian 12 machine.
#
# Installs what is missing, builds, starts a relay on loopback in a temp
# directory, and plays a mentor (Amira) and two advocates (Noor, Samir):
# they register, exchange contact cards, verify a safety number, talk in a
# circle (in Arabic too), one catches up after being away, one is removed
# and can read nothing said afterwards, the history is searched, a weekly
# session is scheduled, answered and exported to a calendar file, and the
# relay's files are checked for plaintext. Every command is shown as typed.
# Exits non-zero on any failure; removes everything it made on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  printf '\nDEMO FAILED: %s\n' "$*" >&2
  exit 1
}

./scripts/deps.sh
echo "== building Halqa"
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
BIN=$PWD/build/bin
for b in halqad halqa; do
  [ -x "$BIN/$b" ] || fail "build/bin/$b was not built"
done
echo "built: $(ls build/bin | grep -c .) programs in build/bin"

work=$(mktemp -d)
relay_pid=
cleanup() {
  if [ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null; then
    kill -TERM "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A demo passphrase for all three; with --kdf-profile test it is cheap to
# guess, which is why that profile exists only for tests and demos.
export HALQA_PASSPHRASE="demo passphrase, not a real one"
export NO_COLOR=1

# as WHO halqa ARGS...: show the command as WHO would type it, run it in
# WHO's profile (stdout line-buffered so warnings stay in place), and stop
# the demo if it fails. refused WHO halqa ARGS...: the same for a command
# that must fail.
run_as() {
  local expect=$1 who=$2 rc=0
  shift 3 # expect, who and the word "halqa"
  printf '\n[%s] $ halqa%s\n' "$who" "$(shown "$@")"
  HALQA_HOME="$work/$who" stdbuf -oL "$BIN/halqa" "$@" >"$work/as.out" 2>&1 || rc=$?
  sed 's/^/    /' "$work/as.out"
  if [ "$expect" = ok ] && [ "$rc" -ne 0 ]; then
    fail "halqa $* (as $who) exited $rc"
  fi
  if [ "$expect" = refused ] && [ "$rc" -eq 0 ]; then
    fail "halqa $* (as $who) should have been refused"
  fi
}
# shown ARGS...: the arguments as one would type them, quoted where needed.
shown() {
  local a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:@%+=,-]+$ ]]; then
      printf ' %s' "$a"
    else
      printf ' "%s"' "${a//\"/\\\"}"
    fi
  done
}
as() { run_as ok "$@"; }
refused() { run_as refused "$@"; }
# quiet WHO ARGS...: run without showing (setup noise).
quiet() {
  local who=$1
  shift
  HALQA_HOME="$work/$who" "$BIN/halqa" "$@" >"$work/last.out" 2>&1 ||
    fail "halqa $* (as $who): $(cat "$work/last.out")"
}
# capture WHO ARGS...: run and keep stdout in $out.
capture() {
  local who=$1
  shift
  out=$(HALQA_HOME="$work/$who" "$BIN/halqa" "$@" 2>"$work/last.err") ||
    fail "halqa $* (as $who): $(cat "$work/last.err")"
}

echo
echo "== a relay on loopback (halqad), invite-only"
port=17400
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  port=$((port + 1))
done
relay_dir="$work/relay"
mkdir -p "$relay_dir"
echo "\$ halqad init --data relay --listen tcp://127.0.0.1:$port"
"$BIN/halqad" init --data "$relay_dir/data" --listen "tcp://127.0.0.1:$port" 2>/dev/null | sed 's/^/    /'
"$BIN/halqad" run --data "$relay_dir/data" 2>"$relay_dir/halqad.log" &
relay_pid=$!
for _ in $(seq 1 200); do
  [ -S "$relay_dir/data/admin.sock" ] && break
  kill -0 "$relay_pid" 2>/dev/null || fail "halqad exited: $(cat "$relay_dir/halqad.log")"
  sleep 0.05
done
address=$("$BIN/halqad" address --data "$relay_dir/data" 2>/dev/null | grep '^halqa-relay:') ||
  fail "halqad printed no address line"
echo "\$ halqad run --data relay &       # in the background, logging to stderr"
echo "\$ halqad address --data relay     # the line to give clients: endpoint and public key"
echo "    $address"

echo
echo "== Amira (a mentor), Noor and Samir (advocates) set up the client"
echo "   (--kdf-profile test: fast and INSECURE, for demos only)"
for who in amira noor samir; do
  name="$(tr '[:lower:]' '[:upper:]' <<<"${who:0:1}")${who:1}"
  code=$("$BIN/halqad" invite --data "$relay_dir/data" --uses 1 2>/dev/null | tail -n 1)
  [ -n "$code" ] || fail "halqad invite printed no code"
  if [ "$who" = amira ]; then
    as amira halqa init --name "$name" --kdf-profile test
    as amira halqa relay set "$address"
    as amira halqa register --invite "$code"
  else
    quiet "$who" init --name "$name" --kdf-profile test
    quiet "$who" relay set "$address"
    quiet "$who" register --invite "$code"
    echo "[$who] (the same three commands, with an invite code of their own)"
  fi
done

echo
echo "== contact cards, exchanged out of band (in person, or another channel)"
as noor halqa whoami
card() {
  capture "$1" whoami --json
  sed -n 's/.*"card":"\([^"]*\)".*/\1/p' <<<"$out"
}
card_amira=$(card amira)
card_noor=$(card noor)
card_samir=$(card samir)
[ -n "$card_amira" ] && [ -n "$card_noor" ] && [ -n "$card_samir" ] || fail "no contact cards"
c=q
[ "${card_noor:30:1}" = q ] && c=p
refused amira halqa contact add noor "${card_noor:0:30}$c${card_noor:31}"
echo "    (one mistyped character: refused, cards carry a checksum)"
as amira halqa contact add noor "$card_noor"
quiet amira contact add samir "$card_samir"
quiet noor contact add amira "$card_amira"
quiet samir contact add amira "$card_amira"
echo "[amira] \$ halqa contact add samir CARD; Noor and Samir add Amira the same way"

echo
echo "== Amira and Noor compare their safety number (on a call they trust)"
as amira halqa contact verify noor
capture amira contact verify noor
sn_amira=$(sed -n '/Safety number/{n;p;n;p}' <<<"$out")
capture noor contact verify amira
sn_noor=$(sed -n '/Safety number/{n;p;n;p}' <<<"$out")
[ -n "$sn_amira" ] && [ "$sn_amira" = "$sn_noor" ] || fail "the two safety numbers differ"
echo "    (Noor's screen shows the same 60 digits)"
as amira halqa contact verify noor --yes
as noor halqa contact verify amira --yes

circle="Court days"
echo
echo "== a circle: Amira creates it and adds both (Samir is not verified yet: she is warned)"
as amira halqa circle create "$circle"
as amira halqa circle add "$circle" noor samir
echo
echo "== both see the circle on their next sync; then Samir is in court all day, offline"
as samir halqa sync
as noor halqa circle list
as amira halqa send "$circle" "Welcome both. Our first check-in is on Thursday."

echo
echo "== Noor reads, and answers in Arabic"
as noor halqa read "$circle"
as noor halqa send "$circle" "شكراً أميرة، سأكون هناك يوم الخميس"
as amira halqa read "$circle"
capture amira read "$circle" --all --json
grep -qF "شكراً أميرة" <<<"$out" || fail "Amira did not get Noor's Arabic message"

echo
echo "== Samir comes back and catches up on everything said while he was away"
as amira halqa send "$circle" "The hearing moved to 10:30, courtroom 4."
as samir halqa circle list
as samir halqa read "$circle"
capture samir read "$circle" --all --json
for text in "Welcome both" "شكراً أميرة" "courtroom 4"; do
  grep -qF "$text" <<<"$out" || fail "Samir did not catch up on: $text"
done

echo
echo "== Amira removes Samir; he cannot read what is said afterwards"
as amira halqa circle remove "$circle" samir
as amira halqa send "$circle" "Noor, the client's new address is in the shared folder."
as samir halqa read "$circle" --all
capture samir read "$circle" --all --json
grep -qF "new address" <<<"$out" && fail "Samir read a message sent after his removal"
capture noor read "$circle" --json
grep -qF "new address" <<<"$out" || fail "Noor did not get the message after the removal"
echo "    (Samir's history ends before his removal; Noor has the new message)"

echo
echo "== searching the encrypted history"
as noor halqa search hearing
as noor halqa search "أميرة" --circle "$circle"

echo
echo "== a weekly session: Amira schedules it, Noor answers and puts it in her calendar"
day=$(date -d "+3 days" +%Y-%m-%d)
as amira halqa session schedule "$circle" --title "Court-day check-in" --at "$day 18:00" \
  --tz Europe/Berlin --duration 90m --every 1w --count 6 \
  --agenda "Round of news; the week's hearings"
capture amira sessions --json
sid=$(sed -n 's/.*"id":"\([0-9a-f]\{32\}\)".*/\1/p' <<<"$out" | head -n 1)
[ -n "$sid" ] || fail "halqa sessions --json showed no session id"
as noor halqa sessions
as noor halqa session rsvp "${sid:0:8}" yes --note "I'll bring the docket"
as amira halqa agenda
as amira halqa session show "${sid:0:8}"
capture amira session show "$sid" --json
grep -qF "docket" <<<"$out" || fail "Amira does not see Noor's answer"
as noor halqa session export "${sid:0:8}" --ics "$work/court-day.ics"
echo "    (the event in court-day.ics, after its VTIMEZONE; any calendar program imports it)"
tr -d '\r' <"$work/court-day.ics" | sed -n '/^BEGIN:VEVENT/,/^END:VEVENT/p' |
  grep -E '^(SUMMARY|DTSTART|DURATION|RRULE|SEQUENCE)' | sed 's/^/    /'
grep -q '^RRULE:FREQ=WEEKLY' "$work/court-day.ics" || fail "the calendar file has no weekly rule"
grep -q "^DTSTART;TZID=Europe/Berlin:${day//-/}T180000" "$work/court-day.ics" ||
  fail "the calendar file does not start at 18:00 Berlin time"

echo
echo "== what the relay operator sees: live figures, no names, no text"
echo "\$ halqad status --data relay"
"$BIN/halqad" status --data "$relay_dir/data" 2>"$work/last.err" | sed 's/^/    /' ||
  fail "halqad status: $(cat "$work/last.err")"

echo
echo "== what the relay holds: ciphertext only"
kill -TERM "$relay_pid"
wait "$relay_pid" || true
relay_pid=
ls -la "$relay_dir/data" | sed 's/^/    /'
for text in "Welcome both" "Thursday" "شكراً أميرة" "courtroom 4" "new address" \
  "Court-day check-in" "docket" Amira Noor Samir "$circle"; do
  if grep -rqF -- "$text" "$relay_dir/data"; then
    fail "the relay's files contain the plaintext \"$text\""
  fi
done
echo "    none of the messages, the people's names or the circle's name appear in the relay's files"

echo
echo "Done. Continue by hand in a profile of your own:"
echo "    build/bin/halqa init --name YOU; halqa relay set ADDRESS; halqa register --invite CODE"
echo "    halqa chat CIRCLE     # interactive: messages appear live as you type"
echo "(see README.md and docs/USER.md)"
