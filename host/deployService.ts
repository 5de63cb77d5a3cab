/**
 * The per-service deploy step: build the service at its revision into a release folder of its
 * own, run migrations if it owns them, install its unit, switch `current` and restart, then
 * hold the step until systemd and the health endpoint agree it is up. On failure: print the
 * journal tail, put the service back on its previous release, and fail the step so that no
 * later tier is touched.
 */
import { Catalog, ServiceSpec, unitName } from "../components/catalog";
import { environmentFile, HOST_LAYOUT, serviceDir } from "./layout";
import { renderUnpackSourceFunction, SourceArgs } from "./prepare/unpackSource";
import { heredoc, scriptHeader, shellQuote } from "./shell";

/** What one service's deploy needs besides the catalog. */
export interface DeployScriptArgs {
    /** Full commit id of the monorepo to deploy this service from. */
    readonly revision: string;
    /** The unit text (from `renderUnit`). */
    readonly unitText: string;
    /** How long the health gate waits for `is-active` and HTTP 2xx before rolling back. */
    readonly healthTimeoutSeconds: number;
    /** Identifies this deploy; the delete step compares it to tell removal from replacement. */
    readonly deployId: string;
    /** The shipped source tarball. */
    readonly source: SourceArgs;
}

/** Lines of the journal printed when a service fails its health gate. */
export const JOURNAL_TAIL_LINES = 40;

const BUILD_ENVIRONMENT = [
    `HOME=${HOST_LAYOUT.buildCache}/home`,
    "PATH=/usr/local/bin:/usr/bin:/bin",
    `GOCACHE=${HOST_LAYOUT.buildCache}/home/go-build`,
    `GOPATH=${HOST_LAYOUT.buildCache}/home/go`,
    "GOTOOLCHAIN=local",
    // Static binaries with Go's own resolver: no C toolchain on the host, no libc coupling.
    "CGO_ENABLED=0",
    "GOFLAGS=-trimpath",
    `npm_config_cache=${HOST_LAYOUT.buildCache}/home/npm`,
];

/** The build command for a language, run inside the release folder as the build user. */
export function buildCommand(service: ServiceSpec): string {
    switch (service.language) {
        case "node":
            return "as_builder npm ci --omit=dev --no-audit --no-fund --loglevel=error";
        case "go":
            return `as_builder go build -o ${shellQuote(`bin/${service.id}`)} ${shellQuote(service.entryPoint)}`;
        case "python":
            return "as_builder python3 -m venv venv && as_builder venv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check -r requirements.txt";
    }
}

/** The unit's EnvironmentFile. It reaches the host on the step's standard input, never in the script. */
export function renderEnvironmentFile(environment: Readonly<Record<string, string>>): string {
    return Object.entries(environment)
        .map(([key, value]) => {
            if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) throw new Error(`environment key ${key} is not a valid variable name`);
            if (/[\n\r]/.test(value)) throw new Error(`environment value of ${key} spans lines`);
            return `${key}=${value}`;
        })
        .map((line) => `${line}\n`)
        .join("");
}

export function renderDeployScript(catalog: Catalog, serviceId: string, args: DeployScriptArgs): string {
    const service = catalog.services[serviceId];
    if (!service) throw new Error(`renderDeployScript: unknown service ${serviceId}`);
    const migrate = service.runsMigrations
        ? `
# Migrations run as the service user with the service's environment (DATABASE_URL) and never
# see a command line: systemd-run reads the 0600 EnvironmentFile itself.
[[ -x $release/node_modules/.bin/prisma ]] || fail "runsMigrations is set but prisma is not a production dependency of $service"
log "running prisma migrate deploy"
migrate_unit="pakashop-$service-migrate-\${revision:0:12}-$$"
if ! systemd-run --quiet --wait --pipe --collect --unit="$migrate_unit" \\
  --property=User=${HOST_LAYOUT.serviceUser} --property=EnvironmentFile="$env_file" \\
  --property=WorkingDirectory="$release" -- "$release/node_modules/.bin/prisma" migrate deploy; then
  journalctl -u "$migrate_unit" -n ${JOURNAL_TAIL_LINES} --no-pager -o short-iso >&2 || true
  fail "migrations of $service at $revision failed; the running release was not touched"
fi`
        : "";
    return `${scriptHeader(`deploy ${service.id}`)}
service=${shellQuote(service.id)}
unit=${shellQuote(unitName(service.id))}
revision=${shellQuote(args.revision)}
deploy_id=${shellQuote(args.deployId)}
health_url=${shellQuote(`http://127.0.0.1:${service.port}${service.healthPath}`)}
health_timeout=${args.healthTimeoutSeconds}
service_dir=${shellQuote(serviceDir(service.id))}
env_file=${shellQuote(environmentFile(service.id))}
unit_path=${shellQuote(`${HOST_LAYOUT.unitDir}/${unitName(service.id)}`)}
release="$service_dir/releases/$revision"

${renderUnpackSourceFunction(service.id, args.source)}

as_builder() {
  runuser -u ${HOST_LAYOUT.buildUser} -- env -i ${BUILD_ENVIRONMENT.join(" ")} "$@"
}

wait_healthy() {
  local deadline=$((SECONDS + health_timeout))
  while ((SECONDS < deadline)); do
    if systemctl is-active --quiet "$unit" && curl --noproxy '*' -fsS --max-time 2 -o /dev/null "$health_url" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

build_release() {
  if [[ -f $release/.pakashop-release ]]; then
    log "release $revision already built"
    return
  fi
  rm -rf "$release"
  install -d -m 0755 "$service_dir/releases"
  install -d -m 0755 "$release"
  unpack_source "$service" "$release"
  chown -R ${HOST_LAYOUT.buildUser}: "$release"
  log "building $revision"
  (cd "$release" && ${buildCommand(service)}) || fail "build of $service at $revision failed"
  chown -R root:root "$release"
  touch "$release/.pakashop-release"
  chmod -R a-w "$release"
}

# Puts the environment file back as it was (a failed deploy must leave no trace).
restore_environment() {
  if [[ -f $service_dir/env.previous ]]; then
    install -m 0600 -o root -g root "$service_dir/env.previous" "$env_file"
  fi
}

# Puts the unit file, the environment and the \`current\` link back as they were, and restarts.
roll_back() {
  restore_environment
  if [[ -f $service_dir/unit.previous ]]; then
    install -m 0644 "$service_dir/unit.previous" "$unit_path"
  fi
  systemctl daemon-reload
  if [[ -n $previous_release ]]; then
    ln -sfn "$previous_release" "$service_dir/current.next"
    mv -T "$service_dir/current.next" "$service_dir/current"
    # The failed release may have crashed into the unit's start limit (StartLimitBurst), and
    # systemd then refuses every start, this one too, until the counter is reset.
    systemctl reset-failed "$unit" 2>/dev/null || true
    systemctl restart "$unit" || true
    if wait_healthy; then
      log "rolled back to $previous_release; $service is active again"
    else
      log "rolled back to $previous_release, but it is not healthy either"
    fi
  else
    log "first deploy of $service: nothing to roll back to; stopping it"
    systemctl stop "$unit" || true
  fi
}

install -d -m 0755 "$service_dir"
tmp=$(mktemp)
# Whatever fails from here on, the environment file is put back on the way out.
# shellcheck disable=SC2317 # called by the EXIT trap
finish() {
  local status=$?
  rm -f "$tmp"
  ((status == 0)) || restore_environment
}
trap finish EXIT
# The environment comes first: migrations read it. The previous one is kept for a roll back.
# It arrives on standard input (it holds credentials), so it is in no command line or log.
rm -f "$service_dir/env.previous"
[[ -f $env_file ]] && cp -p "$env_file" "$service_dir/env.previous"
cat > "$tmp"
[[ -s $tmp ]] || fail "no environment on standard input"
install -m 0600 -o root -g root "$tmp" "$env_file"

build_release
${migrate}
previous_release=$(readlink "$service_dir/current" || true)
rm -f "$service_dir/unit.previous"
[[ -f $unit_path ]] && cp -p "$unit_path" "$service_dir/unit.previous"

${heredoc('cat > "$tmp"', "UNIT_EOF", args.unitText)}
install -m 0644 -o root -g root "$tmp" "$unit_path"
systemctl daemon-reload

ln -sfn "releases/$revision" "$service_dir/current.next"
mv -T "$service_dir/current.next" "$service_dir/current"
systemctl enable --quiet "$unit"
log "restarting $unit"
systemctl reset-failed "$unit" 2>/dev/null || true
systemctl restart "$unit" || true

if wait_healthy; then
  [[ -n $previous_release && $previous_release != "releases/$revision" ]] && ln -sfn "$previous_release" "$service_dir/previous"
  printf '%s %s\\n' "$deploy_id" "$revision" > "$service_dir/deployed"
  log "$service $revision healthy"
  exit 0
fi

echo "----- journal of $unit (last ${JOURNAL_TAIL_LINES} lines) -----" >&2
journalctl -u "$unit" -n ${JOURNAL_TAIL_LINES} --no-pager -o short-iso >&2 || true
echo "----- end of journal -----" >&2
roll_back
fail "$service $revision did not become healthy within \${health_timeout}s ($health_url); rolled back, later tiers not touched"
`;
}

/**
 * The delete step. Pulumi replaces a step by creating the new one before deleting the old, so
 * the old step's delete runs after a newer deploy; it removes the service only if the deploy
 * on the host is still its own (a real removal), and otherwise does nothing. A replaced host
 * keeps its address and pinned key, so the old step's delete reaches the new host: it knows
 * the host it deployed to, and does nothing on another.
 *
 * @param deployId the deploy's identity (a hash of its whole script)
 * @param hostId the instance id the deploy ran on
 */
export function renderRemoveScript(serviceId: string, deployId: string, hostId: string): string {
    return `${scriptHeader(`remove ${serviceId}`)}
service_dir=${shellQuote(serviceDir(serviceId))}
unit=${shellQuote(unitName(serviceId))}
host_id=$(cat ${shellQuote(HOST_LAYOUT.hostIdFile)} 2>/dev/null || true)
if [[ $host_id != ${shellQuote(hostId)} ]]; then
  log "this deploy ran on instance ${hostId.replace(/[^A-Za-z0-9._-]/g, "?")}, the host is now \${host_id:-unknown}: it was replaced; nothing to remove"
  exit 0
fi
deployed=$(cut -d' ' -f1 "$service_dir/deployed" 2>/dev/null || true)
if [[ $deployed != ${shellQuote(deployId)} ]]; then
  log "superseded by a newer deploy; nothing to remove"
  exit 0
fi
systemctl disable --now --quiet "$unit" || true
rm -f ${shellQuote(`${HOST_LAYOUT.unitDir}/${unitName(serviceId)}`)} ${shellQuote(environmentFile(serviceId))}
systemctl daemon-reload
rm -rf "$service_dir"
log "removed"
`;
}
