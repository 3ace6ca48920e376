#!/usr/bin/env bash
# bench-proxy.sh: faultproxy versus nginx versus direct, side by side under the same wrk load.
#
# It starts, all on 127.0.0.1:
#   upstream     scripts/benchupstream, a tiny fasthttp server answering 200 + a small JSON body
#   nginx        a keep-alive reverse proxy in front of the upstream (proxy_http_version 1.1,
#                Connection "", upstream keepalive 64, access_log off)
#   fp-off       dist/faultproxy in front of the upstream, no profile, journal off
#   fp-on        dist/faultproxy in front of the upstream, no profile, journal to a file on disk
# and runs wrk against direct, nginx, fp-off and fp-on in interleaved rounds (the order rotates
# each round) so background noise hits all four alike. It does this for each CPU budget in
# CONFIGS: "1" = nginx worker_processes 1 and faultproxy GOMAXPROCS=1; "auto" = nginx
# worker_processes auto and faultproxy with GOMAXPROCS unset (= nproc). It prints one table
# per budget: requests/s (mean of the rounds), p50/p99 latency (median of the rounds), and the
# ratios faultproxy/nginx, faultproxy/direct, nginx/direct and journal on/off.
#
# Installs nginx and wrk with apt-get when missing (needs root). Traffic goes to 127.0.0.1
# only. Every process it starts is stopped on exit; a watchdog bounds the whole run.
#
# Environment (defaults in brackets):
#   DURATION [10s]  wrk duration of one measurement     ROUNDS [3]  rounds per budget
#   THREADS [2]     wrk threads                         CONNS [64]  wrk connections
#   CONFIGS ["1 auto"]  CPU budgets to measure          PORT_BASE [18081]  first port tried
#   RESULTS [dist/bench-proxy.tsv]  raw per-round results (budget target round req/s p50-us
#                   p99-us errors server-CPU-us/req server-read(2)-calls/req)
#   KEEP_JOURNAL [0]   1 = keep the journal files (their path is printed)
#   FAULTPROXY [build dist/faultproxy]  an already built faultproxy binary to measure instead
#                   (e.g. one built from another revision, for a before/after comparison)
set -euo pipefail

cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
CONFIGS=${CONFIGS:-"1 auto"}
PORT_BASE=${PORT_BASE:-18081}
RESULTS=${RESULTS:-dist/bench-proxy.tsv}
KEEP_JOURNAL=${KEEP_JOURNAL:-0}
WATCHDOG=${WATCHDOG:-290} # seconds
TARGETS=(direct nginx fp-off fp-on)
AUTH="Authorization: Bearer sk_bench_0123456789abcdef"
URL_PATH=/v1/calls/call_1

log() { printf 'bench-proxy: %s\n' "$*" >&2; }

# ---- tools ------------------------------------------------------------------------------
if ! command -v nginx >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1; then
	log "installing nginx and wrk"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
command -v go >/dev/null 2>&1 || { log "go not found"; exit 1; }

# ---- cleanup and watchdog -----------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-proxy.XXXXXX")
PIDS=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "$KEEP_JOURNAL" = 1 ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
(
	trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
	sleep "$WATCHDOG" &
	sleeper=$!
	wait "$sleeper"
	echo "bench-proxy: watchdog: still running after ${WATCHDOG}s, stopping" >&2
	kill -TERM $$ 2>/dev/null
) &
PIDS+=($!)

# ---- build --------------------------------------------------------------------------------
mkdir -p dist "$(dirname "$RESULTS")"
if [ -z "${FAULTPROXY:-}" ]; then
	log "building dist/faultproxy"
	go build -trimpath -o dist/faultproxy ./cmd/faultproxy
	FAULTPROXY=dist/faultproxy
fi
[ -x "$FAULTPROXY" ] || { log "FAULTPROXY=$FAULTPROXY is not an executable"; exit 1; }
log "building the upstream"
go build -trimpath -o "$WORK/benchupstream" ./scripts/benchupstream

# ---- ports --------------------------------------------------------------------------------
NEXT_PORT=$PORT_BASE
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
take_port() { # sets TAKEN to the next port nobody listens on
	while ! port_free "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
	TAKEN=$NEXT_PORT
	NEXT_PORT=$((NEXT_PORT + 1))
}
wait_port() { # port name
	local i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	log "$2 did not start listening on 127.0.0.1:$1"
	for f in "$WORK"/*.log; do [ -s "$f" ] && { echo "== $f" >&2; tail -5 "$f" >&2; }; done
	return 1
}
take_port; PORT_UP=$TAKEN
take_port; PORT_NGINX=$TAKEN
take_port; PORT_OFF=$TAKEN
take_port; PORT_ON=$TAKEN
declare -A PORT=([direct]=$PORT_UP [nginx]=$PORT_NGINX [fp-off]=$PORT_OFF [fp-on]=$PORT_ON)

# ---- upstream (same for every budget) -----------------------------------------------------
"$WORK/benchupstream" --listen "127.0.0.1:$PORT_UP" >"$WORK/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=($!)
wait_port "$PORT_UP" upstream

# start_servers BUDGET: nginx and both faultproxies for one CPU budget; sets SERVER_PIDS.
start_servers() {
	local budget=$1 gmp
	mkdir -p "$WORK/nginx-$budget/tmp"
	cat >"$WORK/nginx-$budget/nginx.conf" <<EOF
worker_processes $budget;
daemon off;
pid $WORK/nginx-$budget/nginx.pid;
error_log $WORK/nginx-$budget/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx-$budget/tmp/body;
    proxy_temp_path $WORK/nginx-$budget/tmp/proxy;
    fastcgi_temp_path $WORK/nginx-$budget/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx-$budget/tmp/uwsgi;
    scgi_temp_path $WORK/nginx-$budget/tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    upstream bench {
        server 127.0.0.1:$PORT_UP;
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$PORT_NGINX;
        location / {
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
	SERVER_PIDS=()
	nginx -p "$WORK/nginx-$budget" -c "$WORK/nginx-$budget/nginx.conf" >"$WORK/nginx-$budget.log" 2>&1 &
	SERVER_PIDS+=($!)
	gmp=()
	if [ "$budget" != auto ]; then gmp=(env "GOMAXPROCS=$budget"); fi
	"${gmp[@]}" "$FAULTPROXY" --listen "127.0.0.1:$PORT_OFF" --target "http://127.0.0.1:$PORT_UP" \
		>"$WORK/fp-off-$budget.log" 2>&1 &
	SERVER_PIDS+=($!)
	"${gmp[@]}" "$FAULTPROXY" --listen "127.0.0.1:$PORT_ON" --target "http://127.0.0.1:$PORT_UP" \
		--journal "$WORK/journal-$budget.jsonl" >"$WORK/fp-on-$budget.log" 2>&1 &
	SERVER_PIDS+=($!)
	PIDS+=("${SERVER_PIDS[@]}")
	wait_port "$PORT_NGINX" nginx
	wait_port "$PORT_OFF" "faultproxy (journal off)"
	wait_port "$PORT_ON" "faultproxy (journal on)"
	# Each port must be served by the process started for it: nginx answers with its Server
	# header, and both faultproxies must still be running (a failed bind exits at once).
	sleep 0.3
	local pid
	for pid in "${SERVER_PIDS[@]:1}"; do
		kill -0 "$pid" 2>/dev/null || { log "a faultproxy exited:"; cat "$WORK"/fp-*-"$budget".log >&2; exit 1; }
	done
	local try
	for try in $(seq 1 20); do
		if server_header "$PORT_NGINX" 2>/dev/null | grep -qi '^Server: nginx'; then
			break
		fi
		if [ "$try" = 20 ]; then
			log "127.0.0.1:$PORT_NGINX is not answered by nginx:"
			cat "$WORK/nginx-$budget.log" >&2
			exit 1
		fi
		sleep 0.2
	done
}

# server_header PORT: the response headers of one GET / on 127.0.0.1:PORT.
server_header() {
	local h
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$URL_PATH" "$1" >&3
	h=$(timeout 5 cat <&3 | tr -d '\r' | sed '/^$/q')
	exec 3<&-
	printf '%s\n' "$h"
}

stop_servers() {
	local pid
	for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# to_us converts a wrk latency ("812.00us", "1.23ms", "2.00s") to microseconds.
to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000; else if (u == "m") m = 60000000; else m = 0
		printf "%.0f", n * m }'
}

# cpu_ticks PID...: user+system CPU clock ticks of the processes and their children
# (nginx's workers are children of its master).
cpu_ticks() {
	local pid pids=()
	for pid in "$@"; do
		pids+=("$pid")
		while read -r pid; do pids+=("$pid"); done < <(pgrep -P "$pid" || true)
	done
	for pid in "${pids[@]}"; do cat "/proc/$pid/stat" 2>/dev/null || true; done |
		awk '{sub(/^.*\) /, ""); n += $12 + $13} END {print n + 0}'
}

# syscr PID...: read(2) calls of the processes and their children so far.
syscr() {
	local pid pids=()
	for pid in "$@"; do
		pids+=("$pid")
		while read -r pid; do pids+=("$pid"); done < <(pgrep -P "$pid" || true)
	done
	for pid in "${pids[@]}"; do cat "/proc/$pid/io" 2>/dev/null || true; done |
		awk '$1 == "syscr:" {n += $2} END {print n + 0}'
}

# measure BUDGET TARGET ROUND: one wrk run; appends a line to $RESULTS. It also records the
# CPU time the serving process spent per request (for direct the upstream, for the proxies
# the proxy alone): a figure that background load on the machine disturbs much less.
measure() {
	local budget=$1 target=$2 round=$3 out rps p50 p99 errs pid t0 t1 r0 r1 total cpu reads
	case $target in
	direct) pid=$UP_PID ;;
	nginx) pid=${SERVER_PIDS[0]} ;;
	fp-off) pid=${SERVER_PIDS[1]} ;;
	fp-on) pid=${SERVER_PIDS[2]} ;;
	esac
	t0=$(cpu_ticks "$pid")
	r0=$(syscr "$pid")
	out=$(timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 5s --latency -H "$AUTH" \
		"http://127.0.0.1:${PORT[$target]}$URL_PATH")
	t1=$(cpu_ticks "$pid")
	r1=$(syscr "$pid")
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p50=$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")
	p99=$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$out")")
	errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i } END {print n + 0}' <<<"$out")
	[ -n "$rps" ] || { log "wrk against $target gave no result:"; echo "$out" >&2; exit 1; }
	total=$(awk '/requests in/ {print $1}' <<<"$out")
	cpu=$(awk -v a="$t0" -v b="$t1" -v n="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (n > 0 ? (b - a) / hz * 1e6 / n : 0)}')
	reads=$(awk -v a="$r0" -v b="$r1" -v n="$total" 'BEGIN {printf "%.2f", (n > 0 ? (b - a) / n : 0)}')
	[ "$target" = nginx ] && reads=- # nginx reads with recv(2), which /proc/PID/io does not count
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$budget" "$target" "$round" "$rps" "$p50" "$p99" "$errs" "$cpu" "$reads" >>"$RESULTS"
	log "$(printf 'budget %-4s round %s %-7s %10.0f req/s  p50 %5s us  p99 %6s us  errors %s  server CPU %s us/req  read(2)/req %s' \
		"$budget" "$round" "$target" "$rps" "$p50" "$p99" "$errs" "$cpu" "$reads")"
}

: >"$RESULTS"
for budget in $CONFIGS; do
	log "budget $budget: nginx worker_processes $budget, faultproxy GOMAXPROCS=$([ "$budget" = auto ] && echo "unset ($(nproc))" || echo "$budget")"
	start_servers "$budget"
	for t in "${TARGETS[@]}"; do # warm-up: connections, caches, page cache of the journal file
		timeout 30 wrk -t"$THREADS" -c"$CONNS" -d2s -H "$AUTH" "http://127.0.0.1:${PORT[$t]}$URL_PATH" >/dev/null
	done
	for round in $(seq 1 "$ROUNDS"); do
		n=${#TARGETS[@]}
		for i in $(seq 0 $((n - 1))); do
			measure "$budget" "${TARGETS[$(((i + round - 1) % n))]}" "$round"
		done
	done
	for pid in "${SERVER_PIDS[@]:1}"; do
		kill -0 "$pid" 2>/dev/null || { log "a faultproxy died during the run:"; cat "$WORK"/fp-*-"$budget".log >&2; exit 1; }
	done
	stop_servers
	# The journal must hold one record per request fp-on answered (warm-up included).
	records=$(wc -l <"$WORK/journal-$budget.jsonl")
	answered=$(awk -F'\t' -v b="$budget" -v d="${DURATION%s}" '$1 == b && $2 == "fp-on" {n += $4 * d} END {printf "%.0f", n}' "$RESULTS")
	log "budget $budget: journal $records records ($(du -h "$WORK/journal-$budget.jsonl" | cut -f1)); fp-on answered about $answered in the measured runs"
	if [ "$records" -lt "$answered" ]; then
		log "the journal holds fewer records than fp-on answered: fp-on was not the faultproxy with a journal"
		exit 1
	fi
	[ "$KEEP_JOURNAL" = 1 ] || rm -f "$WORK/journal-$budget.jsonl"
done

# ---- report -------------------------------------------------------------------------------
echo
echo "faultproxy vs nginx vs direct: wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS interleaved rounds, $(nproc) CPUs"
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), wrk $(wrk --version 2>&1 | awk 'NR==1 {print $2}'), $(go version | awk '{print $3}')"
awk -F'\t' '
function median(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	k = $1 SUBSEP $2
	if (!(k in n)) { if (!($1 in seenb)) { seenb[$1] = 1; budgets[++nb] = $1 } }
	n[k]++; sum[k] += $4; errs[k] += $7; cpu[k] += $8; reads[k] += $9
	p50[k, n[k]] = $5; p99[k, n[k]] = $6
	r[$1, $3, $2] = $4; rounds[$1] = ($3 > rounds[$1] ? $3 : rounds[$1])
}
END {
	split("direct nginx fp-off fp-on", T, " ")
	for (b = 1; b <= nb; b++) {
		B = budgets[b]
		printf "\nCPU budget: %s\n", (B == "auto" ? "nginx worker_processes auto, faultproxy GOMAXPROCS unset" : "nginx worker_processes " B ", faultproxy GOMAXPROCS=" B)
		printf "%-8s %10s %8s %8s %7s %8s %8s %11s %9s\n", "target", "req/s", "p50 us", "p99 us", "errors", "/direct", "/nginx", "CPU us/req", "reads/req"
		for (t = 1; t <= 4; t++) {
			k = B SUBSEP T[t]
			if (!(k in n)) continue
			for (i = 1; i <= n[k]; i++) { a50[i] = p50[k, i]; a99[i] = p99[k, i] }
			mean[T[t]] = sum[k] / n[k]; mcpu[T[t]] = cpu[k] / n[k]
			printf "%-8s %10.0f %8.0f %8.0f %7d", T[t], mean[T[t]], median(a50, n[k]), median(a99, n[k]), errs[k]
			printf " %8.3f", (mean["direct"] > 0 ? mean[T[t]] / mean["direct"] : 0)
			printf " %8.3f", (mean["nginx"] > 0 ? mean[T[t]] / mean["nginx"] : 0)
			printf " %11.2f", mcpu[T[t]]
			if (T[t] == "nginx") printf " %9s\n", "-"; else printf " %9.2f\n", reads[k] / n[k]
		}
		printf "ratios: fp-on/nginx %.3f  fp-off/nginx %.3f  fp-on/direct %.3f  nginx/direct %.3f  journal on/off %.3f (cost %.1f%%)\n",
			mean["fp-on"] / mean["nginx"], mean["fp-off"] / mean["nginx"], mean["fp-on"] / mean["direct"],
			mean["nginx"] / mean["direct"], mean["fp-on"] / mean["fp-off"], (1 - mean["fp-on"] / mean["fp-off"]) * 100
		printf "per round fp-on/nginx:"
		for (i = 1; i <= rounds[B]; i++) if (r[B, i, "nginx"] > 0) printf " %.3f", r[B, i, "fp-on"] / r[B, i, "nginx"]
		printf "   journal on/off:"
		for (i = 1; i <= rounds[B]; i++) if (r[B, i, "fp-off"] > 0) printf " %.3f", r[B, i, "fp-on"] / r[B, i, "fp-off"]
		printf "\n"
		printf "proxy CPU per request (serving process only): fp-on/nginx %.3f  fp-off/nginx %.3f  journal %.2f us/req\n",
			mcpu["fp-on"] / mcpu["nginx"], mcpu["fp-off"] / mcpu["nginx"], mcpu["fp-on"] - mcpu["fp-off"]
		delete mean; delete mcpu
	}
}' "$RESULTS"
echo
echo "raw results: $RESULTS"
