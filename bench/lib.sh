# Shared by bench/compare.sh and bench/ablate.sh (source it; it defines functions only).

# order_for RUN A B: "A B" on odd runs, "B A" on even ones. The order of a pair's two processes
# alternates run to run, so a drift of the machine's speed favours neither side.
order_for() { if [ $(($1 % 2)) -eq 1 ]; then echo "$2 $3"; else echo "$3 $2"; fi; }

# timed_json EXTRA CMD...: runs CMD under /usr/bin/time and prints the JSON line CMD printed with
# EXTRA (a JSON fragment, '"k": v, ...', may be empty) and the process's peak_rss_kb added.
timed_json() {
  local extra=$1 out json rss
  shift
  out=$(/usr/bin/time -f 'RSS %M' "$@" 2>&1)
  json=$(echo "$out" | grep '^{')
  rss=$(echo "$out" | awk '/^RSS/{print $2}')
  echo "${json%\}}, ${extra:+$extra, }\"peak_rss_kb\": $rss}"
}
