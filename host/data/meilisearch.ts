/**
 * Provisions Meilisearch on the search host: a pinned release, downloaded and refused unless
 * its SHA-256 matches the configured one; its data on its own encrypted volume; a hardened
 * systemd unit running `--env production` with the master key from an EnvironmentFile. The
 * master key arrives on standard input, never in the script or a command line.
 */
import { SANDBOX_DIRECTIVES } from "../units/sandbox";
import { heredoc, scriptHeader, shellQuote } from "../shell";

export const MEILISEARCH_PORT = 7700;
export const MEILISEARCH_DATA = "/var/lib/meilisearch";
export const MEILISEARCH_UNIT = "meilisearch.service";

export interface MeilisearchArgs {
    /** Release tag, e.g. `v1.7.6`. */
    readonly version: string;
    /** SHA-256 of the release's binary. */
    readonly sha256: string;
    /** Where the binary is downloaded from. */
    readonly downloadUrl: string;
    /** The host's private address; Meilisearch listens there only. */
    readonly bindAddress: string;
    /** EBS volume id of the data volume (found by its NVMe serial), or empty for none. */
    readonly dataVolumeId: string;
}

export function meilisearchBinary(version: string): string {
    return `/opt/meilisearch/${version}/meilisearch`;
}

export function meilisearchDownloadUrl(version: string, architecture: "x86_64" | "arm64"): string {
    return `https://github.com/meilisearch/meilisearch/releases/download/${version}/meilisearch-linux-${architecture === "arm64" ? "aarch64" : "amd64"}`;
}

export function renderMeilisearchUnit(version: string, bindAddress: string): string {
    return [
        "# Managed by pakashop-infra (Pulumi).",
        "[Unit]",
        `Description=Meilisearch ${version}`,
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=exec",
        "User=meilisearch",
        "Group=meilisearch",
        "EnvironmentFile=/etc/meilisearch/env",
        `ExecStart=${meilisearchBinary(version)} --env production --no-analytics --db-path ${MEILISEARCH_DATA}/data --dump-dir ${MEILISEARCH_DATA}/dumps --http-addr ${bindAddress}:${MEILISEARCH_PORT}`,
        "Restart=on-failure",
        "RestartSec=2s",
        "LimitNOFILE=65536",
        `ReadWritePaths=${MEILISEARCH_DATA}`,
        ...SANDBOX_DIRECTIVES,
        // LMDB and Rust's runtime may adjust resource limits: @resources stays allowed.
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

export function renderMeilisearchScript(args: MeilisearchArgs): string {
    const binary = meilisearchBinary(args.version);
    return `${scriptHeader("meilisearch")}
IFS= read -r master_key || true
((\${#master_key} >= 16)) || fail "no master key (16 characters or more) on standard input"

id -u meilisearch >/dev/null 2>&1 || useradd --system --user-group --home-dir ${MEILISEARCH_DATA} --no-create-home --shell /usr/sbin/nologin meilisearch

binary=${shellQuote(binary)}
if [[ ! -x $binary ]]; then
  download=$(mktemp)
  trap 'rm -f "$download"' EXIT
  curl -fsSL --proto '=https' --tlsv1.2 --retry 3 -o "$download" ${shellQuote(args.downloadUrl)} \\
    || fail "cannot download ${args.downloadUrl}"
  echo ${shellQuote(`${args.sha256}  `)}"$download" | sha256sum --check --status \\
    || fail "SHA-256 of ${args.downloadUrl} is $(sha256sum "$download" | cut -d' ' -f1), not the configured ${args.sha256}; refusing to run it"
  install -d -m 0755 "$(dirname "$binary")"
  install -m 0755 "$download" "$binary"
fi

volume_serial=${shellQuote(args.dataVolumeId.replace("-", ""))}
install -d -m 0750 -o meilisearch -g meilisearch ${MEILISEARCH_DATA}
if [[ -n $volume_serial ]] && ! mountpoint -q ${MEILISEARCH_DATA}; then
  device=""
  for _ in $(seq 1 60); do
    device=$(lsblk -dpno NAME,SERIAL | awk -v serial="$volume_serial" '$2 == serial { print $1 }')
    [[ -n $device ]] && break
    sleep 2
  done
  [[ -n $device ]] || fail "data volume $volume_serial is not attached"
  blkid "$device" >/dev/null 2>&1 || mkfs.ext4 -q -L meilisearch "$device"
  uuid=$(blkid -s UUID -o value "$device")
  grep -q "$uuid" /etc/fstab || echo "UUID=$uuid ${MEILISEARCH_DATA} ext4 defaults,nofail,noatime 0 2" >> /etc/fstab
  mount ${MEILISEARCH_DATA}
  chown meilisearch:meilisearch ${MEILISEARCH_DATA}
  chmod 0750 ${MEILISEARCH_DATA}
fi

tmp=$(mktemp)
install -d -m 0700 /etc/meilisearch
printf 'MEILI_MASTER_KEY=%s\\n' "$master_key" > "$tmp"
install -m 0600 -o root -g root "$tmp" /etc/meilisearch/env
${heredoc('cat > "$tmp"', "UNIT_EOF", renderMeilisearchUnit(args.version, args.bindAddress))}
install -m 0644 "$tmp" /etc/systemd/system/${MEILISEARCH_UNIT}
rm -f "$tmp"
systemctl daemon-reload
systemctl enable --quiet ${MEILISEARCH_UNIT}
systemctl restart ${MEILISEARCH_UNIT}
for _ in $(seq 1 60); do
  if curl --noproxy '*' -fsS --max-time 2 http://${args.bindAddress}:${MEILISEARCH_PORT}/health 2>/dev/null | grep -q available; then
    log "meilisearch ${args.version} ready on ${args.bindAddress}:${MEILISEARCH_PORT}"
    exit 0
  fi
  sleep 0.5
done
journalctl -u ${MEILISEARCH_UNIT} -n 40 --no-pager >&2 || true
fail "meilisearch did not report available within 30s"
`;
}
