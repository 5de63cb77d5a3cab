/**
 * Phase 1 of a rollout, per service: make its release ready on the host without touching
 * anything that runs. Sources (checked against the shipped tarball's SHA-256), dependencies
 * from the host's content-keyed cache (host/prepare/dependencies.ts), the build; then the
 * release is made root-owned and read-only and appears at its final path in one `mv`, so a
 * release folder either is complete or does not exist. No unit, environment, migration or
 * systemctl here: that is the switch's (host/switch/switchScript.ts).
 *
 * All services' prepares run at once; they share the host's cores through `nproc` slots.
 */
import { ServiceSpec } from "../../components/catalog";
import { HOST_LAYOUT, releasesDir, serviceDir } from "../layout";
import { contentHash, scriptHeader, shellQuote } from "../shell";
import { renderDependencyFunctions } from "./dependencies";
import { renderUnpackSourceFunction } from "./unpackSource";
import { DEBIAN_RELEASE, HOST_PACKAGES } from "../bootstrap";

/**
 * What the prepare script logs, for tests and the end-to-end suite to grep. Full forms:
 * `release <id> already prepared`, `dependencies: reused <language> cache <key>`,
 * `dependencies: installing <language> <key>`, `dependencies: not caching node <key>: ...`,
 * `release <id> prepared in <ms> ms`, `removed release <id>`, `removed dependency cache <language>/<key>`.
 */
export const PREPARE_LOG = {
    alreadyPrepared: "already prepared",
    reused: "dependencies: reused",
    installing: "dependencies: installing",
    notCached: "dependencies: not caching",
    prepared: "prepared in",
    removedRelease: "removed release",
    removedCache: "removed dependency cache",
} as const;

/** How many releases besides current, previous and the new one a service keeps. */
export const KEPT_OTHER_RELEASES = 3;
/** A dependency cache entry no release links to is removed after this many days unused. */
export const CACHE_UNUSED_DAYS = 7;
/** How often a prepare waiting for a free slot tries again. */
const SLOT_POLL_SECONDS = "0.05";

/** A release id is a file name: letters, digits, `.`, `_`, `-`, not starting with a dot. */
const RELEASE_ID = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/** The release id's version tag: bump it to give every release a new id. */
const RELEASE_ID_VERSION = "pakashop-release/1";

/**
 * The runtimes a release is built for, as the program installs them: the host image's Debian
 * release and the packages the bootstrap installs. Another image or package set makes every
 * release a new one. (Debian's updates within a release keep Node's module ABI and Python's
 * minor version; the dependency caches are keyed by what the host really runs as well.)
 */
const HOST_RUNTIMES = `debian-${DEBIAN_RELEASE.version} ${HOST_PACKAGES.join(" ")}`;

/**
 * The release a service's folder becomes: the same folder content (`tree`, its git tree id) and
 * the same recipe (the prepare script for the service, without its per-release values) give the
 * same id, whatever the monorepo commit. 20 hex digits.
 */
export function releaseIdOf(service: ServiceSpec, tree: string): string {
    return contentHash(RELEASE_ID_VERSION, tree, HOST_RUNTIMES, renderPrepareScript(service, { releaseId: "", sha256: "" })).slice(0, 20);
}

/**
 * `take_slot`: one of `nproc` prepare slots, held (flock) until the script exits. Waiters queue
 * on one lock and only the head of the queue polls the slots (every 50 ms): 18 prepares waiting
 * on a 2-core host start no process while they wait, and take slots in about arrival order.
 */
function renderTakeSlot(): string {
    return `take_slot() {
  local slots k fd queue waited=0
  slots=$(nproc)
  exec {queue}>"$locks/queue"
  flock "$queue"
  while :; do
    for ((k = 0; k < slots; k++)); do
      exec {fd}>"$locks/slot-$k"
      if flock -n "$fd"; then
        held_fds+=("$fd")
        exec {queue}>&-
        if ((waited == 1)); then log "got prepare slot $k"; fi
        return 0
      fi
      exec {fd}>&-
    done
    if ((waited == 0)); then log "all $slots prepare slots busy; waiting"; fi
    waited=1
    sleep ${SLOT_POLL_SECONDS}
  done
}`;
}

/**
 * Garbage collection: this service's old releases, and dependency cache entries (of any
 * service) that no release links to and that no prepare used for {@link CACHE_UNUSED_DAYS} days.
 */
function renderGarbageCollection(): string {
    return `# The name of the release a link of the service folder points at, or nothing.
linked_release() {
  local target
  target=$(readlink "$service_dir/$1" 2>/dev/null || true)
  printf '%s\\n' "\${target##*/}"
}

collect_releases() {
  local current previous time name kept=0 dir
  current=$(linked_release current)
  previous=$(linked_release previous)
  # Newest first, by the time their marker was written (a folder without one is a leftover).
  while read -r time name; do
    if [[ $name == "$release_id" || $name == "$current" || $name == "$previous" ]]; then
      continue
    fi
    if ((time > 0 && kept < ${KEPT_OTHER_RELEASES})); then
      kept=$((kept + 1))
      continue
    fi
    rm -rf -- "\${releases:?}/$name"
    log "removed release $name"
  done < <(
    for dir in "$releases"/*/; do
      [[ -d $dir ]] || continue
      dir=\${dir%/}
      if [[ -f $dir/${HOST_LAYOUT.releaseMarker} ]]; then
        printf '%s %s\\n' "$(stat -c %Y "$dir/${HOST_LAYOUT.releaseMarker}")" "\${dir##*/}"
      else
        printf '0 %s\\n' "\${dir##*/}"
      fi
    done | sort -rn
  )
}

collect_dependency_caches() {
  local -A used=()
  local link entry stamp fd
  # No entry unused for long enough (the common case): skip reading every release's link, which
  # costs a process per release and would run in all 19 prepares of a rollout. (An entry an
  # interrupted install left without .ready is cleared by the next install of its key.)
  if [[ -z $(find "$deps_root" -mindepth 3 -maxdepth 3 -name .ready -mmin +$((${CACHE_UNUSED_DAYS} * 24 * 60)) -print -quit 2>/dev/null) ]]; then
    return 0
  fi
  for link in ${shellQuote(HOST_LAYOUT.services)}/*/releases/*/${HOST_LAYOUT.releaseDependencyLink} ${shellQuote(HOST_LAYOUT.services)}/*/releases/.partial-*/${HOST_LAYOUT.releaseDependencyLink}; do
    if [[ -L $link ]]; then used[$(readlink "$link")]=1; fi
  done
  for entry in "$deps_root"/*/*/; do
    entry=\${entry%/}
    [[ -d $entry && -z \${used[$entry]:-} ]] || continue
    stamp=$entry/.ready
    [[ -e $stamp ]] || stamp=$entry
    [[ -n $(find "$stamp" -maxdepth 0 -mmin +$((${CACHE_UNUSED_DAYS} * 24 * 60))) ]] || continue
    # Only with the entry's lock: a prepare holding it is installing or about to link it. A
    # prepare may have reused it (and touched it) since the age was read: read it again.
    exec {fd}>"$entry.lock"
    if flock -n "$fd" && [[ -n $(find "$stamp" -maxdepth 0 -mmin +$((${CACHE_UNUSED_DAYS} * 24 * 60))) ]]; then
      rm -rf -- "$entry"
      log "removed dependency cache \${entry#"$deps_root"/}"
    fi
    exec {fd}>&-
  done
}`;
}

/**
 * The prepare step's script for one service.
 * @param args.releaseId the release's id ({@link releaseIdOf}); "" only to render the recipe
 * @param args.sha256 the shipped tarball's SHA-256 (checked before anything is unpacked)
 */
export function renderPrepareScript(service: ServiceSpec, args: { releaseId: string; sha256: string }): string {
    if (!RELEASE_ID.test(args.releaseId)) throw new Error(`renderPrepareScript: release id ${JSON.stringify(args.releaseId)} is not a file name`);
    const marker = HOST_LAYOUT.releaseMarker;
    return `${scriptHeader(`prepare ${service.id}`)}service=${shellQuote(service.id)}
release_id=${shellQuote(args.releaseId)}
sources_sha256=${shellQuote(args.sha256)}
service_dir=${shellQuote(serviceDir(service.id))}
releases=${shellQuote(releasesDir(service.id))}
locks=${shellQuote(HOST_LAYOUT.prepareLocks)}
release="$releases/$release_id"
[[ -n $release_id ]] || fail "no release id"

# The common case of a rollout that changed nothing here: no slot, no lock, no work.
if [[ -f $release/${marker} ]]; then
  log "release $release_id already prepared"
  exit 0
fi

# Lock descriptors this script holds; builds run without them (as_builder).
held_fds=()
# Set once a build holds a prepare slot (as_builder_in_slot).
held_slot=()
# Links of the release into the dependency cache (name -> target), made after the seal.
declare -A release_links=()
staging=""

${renderUnpackSourceFunction(service.id, { sha256: args.sha256 })}

${renderDependencyFunctions(service)}

${renderTakeSlot()}

${renderGarbageCollection()}

# A failed prepare leaves no half release: the staging folder goes, whatever stopped us.
# shellcheck disable=SC2317 # called by the EXIT trap
discard_staging() {
  if [[ -n $staging ]]; then rm -rf -- "$staging"; fi
}
trap discard_staging EXIT

started=\${EPOCHREALTIME/[.,]/}
install -d -m 0755 -o root -g root "$service_dir" "$releases"
install -d -m 0755 -o root -g root ${shellQuote(HOST_LAYOUT.runtimeDir)} "$locks"
# One prepare per service at a time: the leftovers below and the garbage are this service's.
exec {service_lock}>"$locks/service-$service.lock"
held_fds+=("$service_lock")
flock "$service_lock"
if [[ -f $release/${marker} ]]; then
  log "release $release_id already prepared"
  exit 0
fi
# Staging folders of prepares that were killed (no trap ran).
rm -rf -- "$releases"/.partial-*
staging="$releases/.partial-$release_id-$$"
install -d -m 0755 -o root -g root "$staging"
unpack_source "$staging"
# The build user writes only here, and only until the release is sealed below.
chown -R ${shellQuote(`${HOST_LAYOUT.buildUser}:${HOST_LAYOUT.buildUser}`)} "$staging"
prepare_dependencies

# Seal: root-owned and read-only, so nothing the build started can change it any more. Only
# then root's own entries (a build could have planted a link where they go), the marker last,
# and the release appears in one rename.
chown -R root:root "$staging"
chmod -R a-w "$staging"
for name in "\${!release_links[@]}"; do
  rm -rf -- "\${staging:?}/$name"
  ln -s "\${release_links[$name]}" "$staging/$name"
done
rm -f "$staging/${marker}"
printf 'release %s\\nsources %s\\n' "$release_id" "$sources_sha256" > "$staging/${marker}"
chmod a-w "$staging/${marker}"
mv -T "$staging" "$release"
staging=""
now=\${EPOCHREALTIME/[.,]/}
log "release $release_id prepared in $(((now - started) / 1000)) ms"

collect_releases
collect_dependency_caches
`;
}
