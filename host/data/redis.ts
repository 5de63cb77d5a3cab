/**
 * Provisions Redis 7 from Debian's packages on the Redis host: bound to the private address
 * (and loopback), `requirepass`, AOF persistence, a memory limit and eviction policy, enabled at
 * boot. The password arrives on standard input, so it is never part of a command line, the
 * script text, or Pulumi's logs.
 */
import { heredoc, scriptHeader, shellQuote } from "../shell";

export const REDIS_PORT = 6379;
export const REDIS_DROPIN = "/etc/redis/pakashop.conf";

/** What the Redis step needs besides the password (stdin). */
export interface RedisScriptArgs {
    /** The host's private address: Redis listens there and on loopback only. */
    readonly bindAddress: string;
    readonly maxMemoryMb: number;
    readonly evictionPolicy: string;
}

/** The settings file, without the `requirepass` line (added from stdin on the host). */
export function renderRedisSettings(args: RedisScriptArgs): string {
    return [
        "# Managed by pakashop-infra (Pulumi).",
        `bind ${args.bindAddress} 127.0.0.1`,
        "protected-mode yes",
        `port ${REDIS_PORT}`,
        "appendonly yes",
        "appendfsync everysec",
        `maxmemory ${args.maxMemoryMb}mb`,
        `maxmemory-policy ${args.evictionPolicy}`,
        "",
    ].join("\n");
}

export function renderRedisScript(args: RedisScriptArgs): string {
    return `${scriptHeader("redis")}
IFS= read -r password || true
[[ -n $password ]] || fail "no password on standard input"
[[ $password =~ ^[A-Za-z0-9_-]+$ ]] || fail "the password must be letters, digits, '_' and '-' only"

if ! dpkg-query -W -f='\${Status}' redis-server 2>/dev/null | grep -q 'install ok installed'; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -q -y --no-install-recommends redis-server
fi
version=$(redis-server --version | sed -n 's/.*v=\\([0-9]*\\)\\..*/\\1/p')
((version >= 7)) || fail "Redis $version from the distribution; 7 or later is required"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
${heredoc('cat > "$tmp"', "REDIS_EOF", renderRedisSettings(args))}
printf 'requirepass %s\\n' "$password" >> "$tmp"
install -m 0640 -o root -g redis "$tmp" ${REDIS_DROPIN}
# Later directives win in redis.conf, so including ours last overrides Debian's defaults.
grep -qxF ${shellQuote(`include ${REDIS_DROPIN}`)} /etc/redis/redis.conf || echo ${shellQuote(`include ${REDIS_DROPIN}`)} >> /etc/redis/redis.conf

systemctl enable --quiet redis-server
systemctl restart redis-server
export REDISCLI_AUTH=$password
for _ in $(seq 1 60); do
  if [[ $(redis-cli -h 127.0.0.1 -p ${REDIS_PORT} ping 2>/dev/null) == PONG ]]; then
    log "redis $(redis-server --version | cut -d' ' -f3) ready on ${args.bindAddress}:${REDIS_PORT}"
    exit 0
  fi
  sleep 0.5
done
journalctl -u redis-server -n 40 --no-pager >&2 || true
fail "redis did not answer PING within 30s"
`;
}
