/**
 * The switch's health gate, as bash functions: a service passes when systemd says its unit is
 * active AND its health path answers 2xx. Each round asks systemd about every pending unit in
 * one `systemctl is-active` call and sends each pending service one HTTP GET through bash's
 * `/dev/tcp` (no curl: a poll starts at most one process), so rounds can come every
 * {@link HEALTH_POLL_MS} ms without loading the host the services are starting on.
 */

/** Time between the starts of two rounds of the gate (the issue asks for at most 100 ms). */
export const HEALTH_POLL_MS = 50;

/**
 * How long one GET waits for the status line. A service that accepts but does not answer
 * delays its round by this much; one that answers slowly (a busy host) still passes.
 */
export const HTTP_READ_TIMEOUT_SECONDS = "0.5";

/**
 * `now_ms` (sets `now`, milliseconds, from bash's own clock: no process), `http_healthy PORT
 * PATH` and `health_gate ID...`. The gate needs `health_timeout` (seconds), the associative
 * arrays `unit_of`, `port_of`, `path_of` (by service id) and `healthy_at`; it leaves the
 * services that did not pass in `unhealthy` and returns 1 if there are any.
 */
export function renderHealthFunctions(): string {
    if (HEALTH_POLL_MS < 1 || HEALTH_POLL_MS > 999) throw new Error("HEALTH_POLL_MS must be 1..999");
    return `# Milliseconds since the epoch, into \`now\`.
now_ms() {
  local micros=\${EPOCHREALTIME/[.,]/}
  now=$((micros / 1000))
}

# http_healthy PORT PATH: whether GET http://127.0.0.1:PORT PATH answers 2xx.
http_healthy() {
  local fd status_line=""
  { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  # A peer that closed at once must not kill the script with SIGPIPE.
  trap '' PIPE
  { printf 'GET %s HTTP/1.0\\r\\nHost: 127.0.0.1:%s\\r\\nConnection: close\\r\\n\\r\\n' "$2" "$1" >&"$fd"; } 2>/dev/null || true
  trap - PIPE
  IFS= read -r -t ${HTTP_READ_TIMEOUT_SECONDS} status_line <&"$fd" || true
  exec {fd}>&-
  [[ $status_line =~ ^HTTP/1\\.[01]\\ 2[0-9][0-9]([[:space:]]|$) ]]
}

# health_gate ID...: rounds at most ${HEALTH_POLL_MS} ms apart until every service given is active
# and healthy, or health_timeout seconds have passed. Records when each passed in healthy_at.
health_gate() {
  local -a pending=("$@") next=() states=() units=()
  local i id deadline round pause
  now_ms
  deadline=$((now + health_timeout * 1000))
  while :; do
    now_ms
    round=$now
    units=()
    for id in "\${pending[@]}"; do units+=("\${unit_of[$id]}"); done
    mapfile -t states < <(systemctl is-active "\${units[@]}" 2>/dev/null)
    next=()
    for i in "\${!pending[@]}"; do
      id=\${pending[i]}
      if [[ \${states[i]:-} == active ]] && http_healthy "\${port_of[$id]}" "\${path_of[$id]}"; then
        now_ms
        healthy_at[$id]=$now
      else
        next+=("$id")
      fi
    done
    pending=("\${next[@]}")
    unhealthy=("\${pending[@]}")
    if ((\${#pending[@]} == 0)); then return 0; fi
    now_ms
    if ((now >= deadline)); then return 1; fi
    if ((now - round < ${HEALTH_POLL_MS})); then
      printf -v pause '0.%03d' $((${HEALTH_POLL_MS} - (now - round)))
      sleep "$pause"
    fi
  done
}`;
}
