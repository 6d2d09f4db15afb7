#!/usr/bin/env bash
# bounded.sh SECONDS COMMAND...: runs COMMAND in a session of its own and fails if it is still
# running after SECONDS. Before stopping it, says what each of its processes is doing: scheduler
# state, CPU used, where the main thread waits (system call, kernel function), its command line,
# and the native stack of each Node.js process when gdb is installed. So a test group that hangs
# fails within its bound with the evidence, instead of holding CI until CI's own limit.
set -uo pipefail
bound=$1
shift

# Not a process-group leader in a script without job control, so setsid execs in place: $! is the
# command, and its session holds everything it starts (test nodes, attackers, runners).
setsid "$@" &
pid=$!
trap 'kill -TERM -- "-$pid" 2>/dev/null' INT TERM

syscall_name() {
  case $1 in
    0) echo read ;; 1) echo write ;; 7) echo poll ;; 23) echo select ;; 35) echo nanosleep ;;
    61) echo wait4 ;; 202) echo futex ;; 230) echo clock_nanosleep ;; 232) echo epoll_wait ;;
    271) echo ppoll ;; 281) echo epoll_pwait ;; 441) echo epoll_pwait2 ;; running) echo "none (running)" ;;
    *) echo "system call $1" ;;
  esac
}

report() {
  echo "bounded: '$*' still running after ${bound} s; its processes:" >&2
  ps -s "$pid" -o pid=,ppid=,stat=,etime=,time=,args= >&2
  for p in $(ps -s "$pid" -o pid=); do
    local call
    call=$(cut -d' ' -f1 "/proc/$p/syscall" 2>/dev/null) || continue
    echo "  $p: main thread in $(syscall_name "$call") ($(cat "/proc/$p/wchan" 2>/dev/null)); threads: $(
      for t in /proc/"$p"/task/*; do echo "$(sed 's/.*) //' "$t/stat" | cut -c1) $(cat "$t/comm")"; done |
        sort | uniq -c | sed -E 's/^ *([0-9]+) (.) (.*)/\3 \2×\1/' | paste -sd, | sed 's/,/, /g'
    )" >&2
    if command -v gdb >/dev/null && [[ $(cat "/proc/$p/comm" 2>/dev/null) == node* ]]; then
      timeout 30 gdb -p "$p" -batch -ex "thread apply 1 bt 12" 2>/dev/null | grep '^#' | sed 's/^/      /' >&2
    fi
  done
}

deadline=$((SECONDS + bound))
while kill -0 "$pid" 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    report "$@"
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in {1..10}; do kill -0 "$pid" 2>/dev/null && sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    exit 124
  fi
  sleep 1
done
wait "$pid"
