/**
 * Phase 2 of a rollout, one SSH session per host: tier by tier in the order of section 3.2,
 * point every service that changed at its prepared release and restart them together, then
 * hold them to one health gate. A failed gate prints the failed services' journals, rolls them
 * back and stops the rollout: later tiers are not touched. Nothing is built here (that was the
 * prepare, host/prepare/prepareScript.ts), so a tier is down only for a restart.
 *
 * Per tier, whatever the number of services: one `systemctl is-active` to see what changed, at
 * most one `daemon-reload`, one `reset-failed` and one `restart`, and one `is-active` per
 * health round.
 */
import { Catalog, unitName } from "../../components/catalog";
import { rolloutWaves } from "../../components/rollout";
import { HOST_LAYOUT } from "../layout";
import { heredoc, scriptHeader, shellQuote } from "../shell";
import { renderUnit } from "../units/systemdUnit";
import { FLEET_HEALTH_UNIT } from "../health/fleetHealth";
import { renderHealthFunctions } from "./healthGate";

/** Lines of the journal printed for a service that failed its health gate. */
export const JOURNAL_TAIL_LINES = 40;

/** The comment line that carries the switch's plan, right after the script header. */
export const SWITCH_PLAN_MARKER = "# pakashop-switch-plan: ";

/** What a switch does: the release of every service, tier by tier in rollout order. */
export interface SwitchPlan {
    tiers: { tier: string; services: Record<string, string> }[];
}

// What the switch script logs, for people and the end-to-end test to read:
// `tier <tier>: switching <id> <id>...`, `tier <tier>: nothing to switch`, `<id> <release> healthy`,
// `removed <id>`, `switch window: <ms> ms (first restart to last healthy, <n> services restarted)`,
// `switch: nothing to restart`, and on stderr `<id> <release> did not become healthy within <n>s
// (<url>); rolled back, later tiers not touched`.

/** The unit's EnvironmentFile. It reaches the host on the switch's standard input, never in the script. */
export function renderEnvironmentFile(environment: Readonly<Record<string, string>>): string {
    return Object.entries(environment)
        .map(([key, value]) => {
            if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) throw new Error(`environment key ${key} is not a valid variable name`);
            if (/[\n\r]/.test(value)) throw new Error(`environment value of ${key} spans lines`);
            return `${key}=${value}\n`;
        })
        .join("");
}

/** The plan of a switch: every catalog service's release, tier by tier (rollout order). */
export function switchPlan(catalog: Catalog, releases: Readonly<Record<string, string>>): SwitchPlan {
    for (const id of Object.keys(releases)) {
        if (!catalog.services[id]) throw new Error(`renderSwitchScript: release given for ${id}, which is not in the catalog`);
    }
    return {
        tiers: rolloutWaves(catalog).map((wave) => ({
            tier: wave.tier.id,
            services: Object.fromEntries(wave.serviceIds.map((id) => {
                const release = releases[id];
                if (release === undefined) throw new Error(`renderSwitchScript: no release for service ${id}`);
                if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(release)) throw new Error(`renderSwitchScript: release id ${JSON.stringify(release)} of ${id} is not a file name`);
                return [id, release];
            })),
        })),
    };
}

/**
 * What the script's own commands do: its `switch_tier` calls (the tiers in order, each with its
 * services) and its `release_of` table. The policy pack judges these, the commands that run,
 * and holds the plan line to them; undefined when the script has neither.
 */
export function readSwitchCommands(script: string): SwitchPlan | undefined {
    const table = /^declare -A release_of=\((.*)\)$/m.exec(script);
    if (!table) return undefined;
    const releases = new Map([...table[1].matchAll(/\['([^']*)'\]='([^']*)'/g)].map((m) => [m[1], m[2]]));
    // Every call, however indented; a call written any other way than as single-quoted words
    // (as renderSwitchScript writes them), or a service switched twice, reads as no commands.
    const calls = script.split("\n").map((line) => line.trim()).filter((line) => /^switch_tier\s/.test(line));
    if (calls.length === 0 || !calls.every((line) => /^switch_tier( '[^']*')+$/.test(line))) return undefined;
    const tiers = calls.map((line) => {
        const [tier, ...ids] = [...line.slice("switch_tier ".length).matchAll(/'([^']*)'/g)].map((m) => m[1]);
        return { tier, ids };
    });
    const ids = tiers.flatMap((t) => t.ids);
    if (new Set(ids).size !== ids.length) return undefined;
    return { tiers: tiers.map((t) => ({ tier: t.tier, services: Object.fromEntries(t.ids.map((id) => [id, releases.get(id) ?? ""])) })) };
}

/** Reads the plan back from a rendered switch script; undefined if it has none (or a broken one). */
export function readSwitchPlan(script: string): SwitchPlan | undefined {
    const line = script.split("\n").find((l) => l.startsWith(SWITCH_PLAN_MARKER));
    if (line === undefined) return undefined;
    let parsed: unknown;
    try {
        parsed = JSON.parse(line.slice(SWITCH_PLAN_MARKER.length));
    } catch {
        return undefined;
    }
    const isRecordOfStrings = (value: unknown): value is Record<string, string> =>
        typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string");
    if (typeof parsed !== "object" || parsed === null || !Array.isArray((parsed as SwitchPlan).tiers)) return undefined;
    const tiers = (parsed as SwitchPlan).tiers;
    if (!tiers.every((t) => typeof t === "object" && t !== null && typeof t.tier === "string" && isRecordOfStrings(t.services))) return undefined;
    return { tiers: tiers.map((t) => ({ tier: t.tier, services: { ...t.services } })) };
}

/** `declare -A name=(['key']='value' ...)` */
function assocArray(name: string, entries: [string, string][]): string {
    return `declare -A ${name}=(${entries.map(([k, v]) => `[${shellQuote(k)}]=${shellQuote(v)}`).join(" ")})`;
}

/** Per-service facts the script looks up by service id. */
function renderServiceTables(catalog: Catalog, plan: SwitchPlan): string {
    const ids = plan.tiers.flatMap((t) => Object.keys(t.services));
    const release = plan.tiers.flatMap((t) => Object.entries(t.services));
    const service = (id: string) => catalog.services[id];
    return [
        assocArray("release_of", release),
        assocArray("unit_of", ids.map((id) => [id, unitName(id)])),
        assocArray("port_of", ids.map((id) => [id, String(service(id).port)])),
        assocArray("path_of", ids.map((id) => [id, service(id).healthPath])),
        assocArray("migrates", ids.filter((id) => service(id).runsMigrations).map((id) => [id, "1"])),
        `plan_ids=(${ids.map(shellQuote).join(" ")})`,
    ].join("\n");
}

/** The functions of the switch (see the script's own comments). */
function renderSwitchFunctions(): string {
    const L = HOST_LAYOUT;
    return `error() { printf '[%s] ERROR: %s\\n' 'switch' "$*" >&2; }

# needs_switch ID STATE: whether the service must be switched, STATE being its is-active.
needs_switch() {
  local id=$1 state=$2 current deployed=""
  current=$(readlink "$services_root/$id/current" 2>/dev/null || true)
  [[ $current == "releases/\${release_of[$id]}" ]] || return 0
  # \`deployed\` is written only once a release passed its gate: a switch killed between the
  # restart and the end of the gate left \`current\` on a release nobody has seen healthy.
  if [[ -f $services_root/$id/deployed ]]; then IFS= read -r deployed < "$services_root/$id/deployed" || true; fi
  [[ $deployed == "\${release_of[$id]}" ]] || return 0
  cmp -s "$work/units/$id" "$unit_dir/\${unit_of[$id]}" || return 0
  cmp -s "$work/env" "$env_dir/$id.env" || return 0
  [[ $state == active ]] || return 0
  return 1
}

# Fails, naming them, if any planned release was not prepared: before anything is touched.
check_prepared() {
  local id missing=()
  for id in "\${plan_ids[@]}"; do
    [[ -f $services_root/$id/releases/\${release_of[$id]}/${L.releaseMarker} ]] || missing+=("$id \${release_of[$id]}")
  done
  if ((\${#missing[@]} > 0)); then
    fail "not prepared on this host (its prepare step did not run or failed): \${missing[*]}; nothing was touched"
  fi
}

# Keeps what roll_back puts back: unit file, environment file, \`current\`, enablement.
save_state() {
  local id
  for id; do
    prev_current[$id]=$(readlink "$services_root/$id/current" 2>/dev/null || true)
    had_unit[$id]=0
    had_env[$id]=0
    if [[ -f $unit_dir/\${unit_of[$id]} ]]; then cp -p "$unit_dir/\${unit_of[$id]}" "$work/saved/$id.unit"; had_unit[$id]=1; fi
    if [[ -f $env_dir/$id.env ]]; then cp -p "$env_dir/$id.env" "$work/saved/$id.env"; had_env[$id]=1; fi
    unset 'newly_enabled[$id]'
  done
}

# Installs the units and environments that differ; one daemon-reload; enables what is not.
install_files() {
  local id i reload=0
  local -a units=() enabled=() enable=()
  for id; do
    units+=("\${unit_of[$id]}")
    if ! cmp -s "$work/units/$id" "$unit_dir/\${unit_of[$id]}"; then
      install -m 0644 -o root -g root "$work/units/$id" "$unit_dir/\${unit_of[$id]}"
      reload=1
    fi
    if ! cmp -s "$work/env" "$env_dir/$id.env"; then
      install -m 0600 -o root -g root "$work/env" "$env_dir/$id.env"
    fi
  done
  if ((reload)); then systemctl daemon-reload; fi
  mapfile -t enabled < <(systemctl is-enabled "\${units[@]}" 2>/dev/null)
  i=0
  for id; do
    if [[ \${enabled[i]:-} != enabled ]]; then enable+=("\${unit_of[$id]}"); newly_enabled[$id]=1; fi
    i=$((i + 1))
  done
  if ((\${#enable[@]} > 0)); then systemctl enable --no-reload --quiet "\${enable[@]}"; fi
}

# Migrations run as the service user with the service's environment (DATABASE_URL) and never
# see a command line: systemd-run reads the 0600 EnvironmentFile itself. Before any restart.
run_migrations() {
  local id release unit
  for id; do
    [[ -n \${migrates[$id]:-} ]] || continue
    release=$services_root/$id/releases/\${release_of[$id]}
    if [[ ! -x $release/node_modules/.bin/prisma ]]; then
      error "runsMigrations is set but prisma is not a production dependency of $id"
      failed_migration=$id
      return 1
    fi
    log "$id: running prisma migrate deploy"
    unit="pakashop-$id-migrate-\${release_of[$id]:0:12}-$$"
    if ! systemd-run --quiet --wait --pipe --collect --unit="$unit" \\
      --property=User=${L.serviceUser} --property=EnvironmentFile="$env_dir/$id.env" \\
      --property=WorkingDirectory="$release" -- "$release/node_modules/.bin/prisma" migrate deploy </dev/null; then
      journalctl -u "$unit" -n "$journal_lines" --no-pager -o short-iso >&2 || true
      failed_migration=$id
      return 1
    fi
  done
}

# Points \`current\` at the planned release, atomically (a rename).
point_current() {
  local id
  for id; do
    ln -sfn "releases/\${release_of[$id]}" "$services_root/$id/current.next"
    mv -T "$services_root/$id/current.next" "$services_root/$id/current"
  done
}

# One restart for all: reset-failed first, or a unit that hit its start limit (StartLimitBurst)
# would refuse this start too. The gate, not restart's status, decides what is healthy.
restart_units() {
  local id
  local -a units=()
  for id; do units+=("\${unit_of[$id]}"); done
  systemctl reset-failed "\${units[@]}" 2>/dev/null || true
  now_ms
  if ((first_restart == 0)); then first_restart=$now; fi
  systemctl restart "\${units[@]}" || true
}

# Records a healthy service: \`deployed\`, \`previous\`, the log line, the switch window.
record_healthy() {
  local id=$1 dir=$services_root/$1 prev=\${prev_current[$1]}
  printf '%s\\n' "\${release_of[$id]}" > "$dir/deployed.next"
  mv -T "$dir/deployed.next" "$dir/deployed"
  if [[ -n $prev && $prev != "releases/\${release_of[$id]}" ]]; then
    ln -sfn "$prev" "$dir/previous.next"
    mv -T "$dir/previous.next" "$dir/previous"
  fi
  if ((\${healthy_at[$id]:-0} > last_healthy)); then last_healthy=\${healthy_at[$id]}; fi
  log "$id \${release_of[$id]} healthy"
}

print_journal() {
  echo "----- journal of $1 (last $journal_lines lines) -----" >&2
  journalctl -u "$1" -n "$journal_lines" --no-pager -o short-iso >&2 || true
  echo "----- end of journal -----" >&2
}

# roll_back restart|keep-stopped ID...: puts unit, environment, \`current\` and enablement back
# as save_state found them. A service that had a release is restarted on it (restart mode)
# and gated again; one deployed for the first time is stopped.
roll_back() {
  local mode=$1 id reload=0
  shift
  local -a ids=("$@") first=() disable=() again=()
  for id in "\${ids[@]}"; do
    if [[ -z \${prev_current[$id]} ]]; then first+=("\${unit_of[$id]}"); fi
    if [[ -n \${newly_enabled[$id]:-} ]]; then disable+=("\${unit_of[$id]}"); fi
  done
  if ((\${#first[@]} > 0)); then systemctl stop "\${first[@]}" 2>/dev/null || true; fi
  if ((\${#disable[@]} > 0)); then systemctl disable --no-reload --quiet "\${disable[@]}" 2>/dev/null || true; fi
  for id in "\${ids[@]}"; do
    if [[ \${had_unit[$id]} == 1 ]]; then
      if ! cmp -s "$work/saved/$id.unit" "$unit_dir/\${unit_of[$id]}"; then
        install -m 0644 -o root -g root "$work/saved/$id.unit" "$unit_dir/\${unit_of[$id]}"
        reload=1
      fi
    elif [[ -e $unit_dir/\${unit_of[$id]} ]]; then
      rm -f "$unit_dir/\${unit_of[$id]}"
      reload=1
    fi
    if [[ \${had_env[$id]} == 1 ]]; then
      install -m 0600 -o root -g root "$work/saved/$id.env" "$env_dir/$id.env"
    else
      rm -f "$env_dir/$id.env"
    fi
    if [[ -n \${prev_current[$id]} ]]; then
      ln -sfn "\${prev_current[$id]}" "$services_root/$id/current.next"
      mv -T "$services_root/$id/current.next" "$services_root/$id/current"
      again+=("$id")
    else
      rm -f "$services_root/$id/current"
      log "$id: first deploy, nothing to roll back to; stopped"
    fi
  done
  if ((reload)); then systemctl daemon-reload; fi
  [[ $mode == restart && \${#again[@]} -gt 0 ]] || return 0
  local -a units=()
  for id in "\${again[@]}"; do units+=("\${unit_of[$id]}"); done
  systemctl reset-failed "\${units[@]}" 2>/dev/null || true
  systemctl restart "\${units[@]}" || true
  health_gate "\${again[@]}" || true
  for id in "\${again[@]}"; do
    if [[ " \${unhealthy[*]} " == *" $id "* ]]; then
      error "$id: rolled back to \${prev_current[$id]}, but that is not healthy either"
    else
      log "$id: rolled back to \${prev_current[$id]}; active again"
    fi
  done
}

# switch_tier TIER ID...: switches the tier's services that need it, together.
switch_tier() {
  local tier=$1 id i
  shift
  local -a ids=("$@") units=() states=() changed=() failed=()
  for id in "\${ids[@]}"; do units+=("\${unit_of[$id]}"); done
  mapfile -t states < <(systemctl is-active "\${units[@]}" 2>/dev/null)
  for i in "\${!ids[@]}"; do
    if needs_switch "\${ids[i]}" "\${states[i]:-unknown}"; then changed+=("\${ids[i]}"); fi
  done
  if ((\${#changed[@]} == 0)); then
    log "tier $tier: nothing to switch"
    return 0
  fi
  log "tier $tier: switching \${changed[*]}"
  save_state "\${changed[@]}"
  in_flight=("\${changed[@]}")
  install_files "\${changed[@]}"
  if ! run_migrations "\${changed[@]}"; then
    roll_back keep-stopped "\${changed[@]}"
    in_flight=()
    fail "migrations of $failed_migration \${release_of[$failed_migration]} failed; nothing was restarted, later tiers not touched"
  fi
  point_current "\${changed[@]}"
  restart_units "\${changed[@]}"
  restarted=$((restarted + \${#changed[@]}))
  if ! health_gate "\${changed[@]}"; then failed=("\${unhealthy[@]}"); fi
  for id in "\${changed[@]}"; do
    if [[ " \${failed[*]} " != *" $id "* ]]; then record_healthy "$id"; fi
  done
  if ((\${#failed[@]} == 0)); then
    in_flight=()
    return 0
  fi
  for id in "\${failed[@]}"; do print_journal "\${unit_of[$id]}"; done
  roll_back restart "\${failed[@]}"
  in_flight=()
  for id in "\${failed[@]}"; do
    error "$id \${release_of[$id]} did not become healthy within \${health_timeout}s (http://127.0.0.1:\${port_of[$id]}\${path_of[$id]}); rolled back, later tiers not touched"
  done
  exit 1
}

# Services on the host that the plan does not list: disabled, stopped and removed.
remove_unlisted() {
  local path id
  local -a gone=()
  local -A seen=()
  for path in "$unit_dir"/pakashop-*.service "$services_root"/*; do
    [[ -e $path || -L $path ]] || continue
    # The load balancer's health server (the proxy step's) is no service: it stays.
    [[ $path != "$unit_dir"/${FLEET_HEALTH_UNIT} ]] || continue
    id=\${path##*/}
    if [[ $path == "$unit_dir"/* ]]; then id=\${id#pakashop-}; id=\${id%.service}; fi
    if [[ ! $id =~ ^[a-z][a-z0-9-]{0,30}$ ]]; then
      log "leaving $path alone: not named like a service"
      continue
    fi
    if [[ -n \${release_of[$id]:-} || -n \${seen[$id]:-} ]]; then continue; fi
    seen[$id]=1
    gone+=("$id")
  done
  if ((\${#gone[@]} == 0)); then return 0; fi
  for id in "\${gone[@]}"; do
    systemctl disable --now --quiet "pakashop-$id.service" 2>/dev/null || true
    rm -f "$unit_dir/pakashop-$id.service" "$env_dir/$id.env"
    rm -rf -- "\${services_root:?}/$id"
    log "removed $id"
  done
  systemctl daemon-reload
}

# shellcheck disable=SC2317 # called by the EXIT trap
finish() {
  local status=$?
  # An unexpected error half way through a tier: put its services back as they were.
  if ((status != 0 && \${#in_flight[@]} > 0)); then
    error "switch failed while switching \${in_flight[*]}; rolling them back"
    roll_back restart "\${in_flight[@]}" || true
  fi
  rm -rf -- "$work"
}`;
}

/**
 * The switch step's script for a host.
 * @param releases the prepared release of every catalog service ({@link releaseIdOf})
 * @param args.healthTimeoutSeconds how long a tier's health gate waits before rolling back
 */
export function renderSwitchScript(catalog: Catalog, releases: Readonly<Record<string, string>>, args: { healthTimeoutSeconds: number }): string {
    if (!Number.isInteger(args.healthTimeoutSeconds) || args.healthTimeoutSeconds < 1) {
        throw new Error(`renderSwitchScript: healthTimeoutSeconds must be a positive integer, got ${args.healthTimeoutSeconds}`);
    }
    const plan = switchPlan(catalog, releases);
    const L = HOST_LAYOUT;
    const units = plan.tiers.flatMap((t) => Object.keys(t.services)).map((id) => heredoc(`cat > "$work/units/"${shellQuote(id)}`, "UNIT_EOF", renderUnit(catalog, id)));
    const tiers = plan.tiers.map((t) => `switch_tier ${[t.tier, ...Object.keys(t.services)].map(shellQuote).join(" ")}`);
    return `${scriptHeader("switch")}${SWITCH_PLAN_MARKER}${JSON.stringify(plan)}
services_root=${shellQuote(L.services)}
unit_dir=${shellQuote(L.unitDir)}
env_dir=${shellQuote(L.environmentDir)}
runtime_dir=${shellQuote(L.runtimeDir)}
health_timeout=${args.healthTimeoutSeconds}
journal_lines=${JOURNAL_TAIL_LINES}
${renderServiceTables(catalog, plan)}
# State of the run: roll-back copies by service, the tier in flight, the switch window.
declare -A prev_current=() had_unit=() had_env=() newly_enabled=() healthy_at=()
in_flight=()
unhealthy=()
failed_migration=""
first_restart=0
last_healthy=0
restarted=0
work=""

${renderHealthFunctions()}

${renderSwitchFunctions()}

# A private folder on the tmpfs: the environment passes through it and never reaches a disk
# outside /etc/pakashop.
install -d -m 0755 "$runtime_dir"
# One switch at a time on a host: a retried \`pulumi up\` waits for a switch still running
# from a run whose runner went away, instead of restarting the same services under it.
exec {switch_lock}>"$runtime_dir/switch.lock"
if ! flock -n "$switch_lock"; then
  log "another switch is running on this host; waiting for it"
  flock "$switch_lock"
fi
work=$(mktemp -d "$runtime_dir/switch.XXXXXX")
trap finish EXIT
install -d -m 0700 "$work/units" "$work/saved"
# The environment (endpoints, credentials) arrives on standard input: in no command line, log
# or script. Every service gets it as its 0600 EnvironmentFile.
(umask 077 && cat > "$work/env")
[[ -s $work/env ]] || fail "no environment on standard input"
${units.join("\n")}

check_prepared
${tiers.join("\n")}
remove_unlisted
if ((restarted > 0)); then
  log "switch window: $((last_healthy - first_restart)) ms (first restart to last healthy, $restarted services restarted)"
else
  log "switch: nothing to restart"
fi
`;
}
