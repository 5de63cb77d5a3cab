/**
 * A release's dependencies and build, as bash functions for the prepare script
 * (host/prepare/prepareScript.ts).
 *
 * Dependencies are cached on the host by what they are made of, never by the release:
 * `/var/cache/pakashop/deps/<language>/<key>/`, where the key hashes the lockfile(s), the
 * runtime's ABI and architecture, and the install recipe. A release links to its entry, so a
 * change to a service's code alone installs nothing. An entry is built under `flock` of
 * `<key>.lock` (two prepares with one key build it once), marked complete by `.ready`, then made
 * root-owned and read-only: the build user that ran the package manager can no longer change
 * what every later release runs.
 *
 * Why not relocate: a venv is bound to its path, so it is built at its final place in the
 * cache; node_modules is not, so `npm ci` runs in the release (relative paths in the lockfile
 * work) and the result is moved into the cache.
 */
import { ServiceSpec } from "../../components/catalog";
import { HOST_LAYOUT } from "../layout";
import { shellQuote } from "../shell";

/** The install commands, as run; part of each language's cache key, so a new recipe gets new entries. */
export const NODE_INSTALL = "npm ci --omit=dev --no-audit --no-fund --loglevel=error";
export const PYTHON_VENV = "python3 -m venv";
/** pip's arguments; run with the venv's own pip, from the release folder. */
export const PIP_INSTALL_ARGS = "install --quiet --no-cache-dir --disable-pip-version-check -r requirements.txt";
export const PYTHON_INSTALL = `pip ${PIP_INSTALL_ARGS}`;

/** How many hex digits of SHA-256 name a cache entry (128 bits: no collisions in practice). */
export const CACHE_KEY_LENGTH = 32;

/** The environment every build command gets (`env -i`: nothing of the SSH session leaks in). */
export const BUILD_ENVIRONMENT: readonly string[] = [
    `HOME=${HOST_LAYOUT.buildHome}`,
    "PATH=/usr/local/bin:/usr/bin:/bin",
    `GOCACHE=${HOST_LAYOUT.buildHome}/go-build`,
    `GOPATH=${HOST_LAYOUT.buildHome}/go`,
    "GOTOOLCHAIN=local",
    // Static binaries with Go's own resolver: no C toolchain on the host, no libc coupling.
    "CGO_ENABLED=0",
    "GOFLAGS=-trimpath",
    `npm_config_cache=${HOST_LAYOUT.buildHome}/npm`,
];

/**
 * The build as one command line run inside a complete copy of the service folder, without the
 * host's cache (tests/e2e/fixtureCheck.ts builds the fixture this way). Expects `as_builder`.
 */
export function buildCommand(service: ServiceSpec): string {
    switch (service.language) {
        case "node":
            return `as_builder ${NODE_INSTALL}`;
        case "go":
            return `as_builder ${goBuild(service)}`;
        case "python":
            return `as_builder ${PYTHON_VENV} venv && as_builder venv/bin/${PYTHON_INSTALL}`;
    }
}

function goBuild(service: ServiceSpec): string {
    return `go build -o ${shellQuote(`bin/${service.id}`)} ${shellQuote(service.entryPoint)}`;
}

/**
 * `as_builder CMD...`: runs CMD as the build user with {@link BUILD_ENVIRONMENT} only, and
 * without the lock descriptors the script holds (`held_fds`): a process a package's install
 * script leaves behind must not keep a prepare slot or a cache lock.
 */
export function renderAsBuilder(): string {
    return `# The host's cores are shared by what builds (npm ci, pip, go build): those take a prepare
# slot first (take_slot). A build run in a subshell, as npm ci and go build are, gives its slot
# back when it ends; one run in this shell (the venv) keeps it until the prepare ends.
# Unpacking, linking a cached dependency tree and sealing are light and take none, so a
# rollout that reuses every Node and Python cache runs those prepares side by side.
as_builder_in_slot() {
  if ((\${#held_slot[@]} == 0)); then
    take_slot
    held_slot=(1)
  fi
  as_builder "$@"
}

as_builder() {
  (
    for held in "\${held_fds[@]}"; do exec {held}>&-; done
    exec runuser -u ${shellQuote(HOST_LAYOUT.buildUser)} -- env -i ${BUILD_ENVIRONMENT.map(shellQuote).join(" ")} "$@"
  )
}`;
}

/**
 * The cache machinery shared by the languages: `digest_file`, `digest_tree` (lines for a key)
 * and `use_cache LANGUAGE KEY INSTALL`, which sets `entry` and `cache_hit` and logs exactly one
 * of `dependencies: reused <language> cache <key>` or `dependencies: installing <language> <key>`.
 * Expects `staging`, `held_fds`, `log` and `fail`.
 */
function renderCacheFunctions(): string {
    return `deps_root=${shellQuote(HOST_LAYOUT.dependencyCache)}

# One key line for a file of the release: its name and SHA-256, or that it is absent.
digest_file() {
  if [[ -f $staging/$1 ]]; then
    printf '%s %s\\n' "$1" "$(sha256sum < "$staging/$1" | cut -d' ' -f1)"
  else
    printf '%s absent\\n' "$1"
  fi
}

# Key lines for every file under a folder of the release (paths and contents), if it exists.
digest_tree() {
  if [[ -d $staging/$1 ]]; then
    (cd "$staging" && find "$1" \\( -type f -o -type l \\) -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum --)
  else
    printf '%s/ absent\\n' "$1"
  fi
}

# runtime_id NAME BINARY CMD...: what CMD prints about the runtime BINARY, cached in /run (a
# tmpfs, empty after a boot) under the binary's device, inode, size and time: a package
# upgrade replaces the file, and the next prepare asks the runtime again. Starting node,
# python3 or go in every prepare would cost more than the rest of a prepare that reuses its
# dependencies.
runtime_id() {
  local name=$1 binary stamp file cached
  binary=$(command -v "$2") || fail "$2 is not installed on this host"
  shift 2
  stamp=$(stat -L -c '%d:%i:%s:%Y' "$binary")
  file=${shellQuote(HOST_LAYOUT.runtimeDir)}/runtime-$name
  if [[ -f $file ]] && IFS= read -r cached < "$file" && [[ \${cached%%|*} == "$stamp" ]]; then
    printf '%s\\n' "\${cached#*|}"
    return 0
  fi
  cached=$("$@" | tr '\\n' ' ') || fail "$binary does not run on this host"
  [[ -n $cached ]] || fail "$binary printed nothing about itself"
  printf '%s|%s\\n' "$stamp" "$cached" > "$file.$$"
  mv -f "$file.$$" "$file"
  printf '%s\\n' "$cached"
}

# The cache key of the key lines on standard input.
cache_key() {
  sha256sum | cut -c1-${CACHE_KEY_LENGTH}
}

# use_cache LANGUAGE KEY INSTALL: points \`entry\` at the cache entry, running INSTALL (which
# fills "$entry", or empties \`entry\` when the result must not be shared) unless a ready entry
# exists. Under the entry's lock, so one key is installed once and never removed while in use.
# shellcheck disable=SC2034 # cache_hit is read only by the languages that build either way
use_cache() {
  local language=$1 key=$2 install=$3 lock_fd
  entry="$deps_root/$language/$key"
  install -d -m 0755 -o root -g root "$deps_root/$language"
  exec {lock_fd}>"$entry.lock"
  held_fds+=("$lock_fd")
  flock "$lock_fd"
  if [[ -f $entry/.ready ]]; then
    # The marker's time is when a release last used the entry (the garbage collection reads it).
    touch -c "$entry/.ready"
    cache_hit=1
    log "dependencies: reused $language cache $key"
  else
    cache_hit=0
    rm -rf "$entry" # what an interrupted install left
    log "dependencies: installing $language $key"
    "$install"
    if [[ -n $entry ]]; then
      chown -R root:root "$entry"
      touch "$entry/.ready"
      chmod -R a-w "$entry"
    fi
  fi
  # Forget the lock by its number: a build in between may have added a slot after it.
  local remaining_fds=() held
  for held in "\${held_fds[@]}"; do [[ $held == "$lock_fd" ]] || remaining_fds+=("$held"); done
  held_fds=("\${remaining_fds[@]}")
  exec {lock_fd}>&-
}

# Links the release to its cache entry, so the garbage collection sees the entry is in use.
record_cache_use() {
  release_links[${HOST_LAYOUT.releaseDependencyLink}]=$entry
}`;
}

/** Node: `npm ci` once per lockfile; every release links `node_modules` to the cache's. */
function renderNodeDependencies(): string {
    return `# The first symlink under node_modules that leads outside it (a file: folder dependency),
# or nothing. Such a tree only works next to the sources it points into, so it is not shared.
link_leaving_node_modules() {
  local modules target
  modules=$(realpath "$staging/node_modules")
  while IFS= read -r -d '' target; do
    if [[ $target != "$modules"/* && $target != "$modules" ]]; then
      printf '%s\\n' "$target"
      return 0
    fi
  done < <(find "$modules" -type l -print0 | xargs -0 -r realpath -m -z --)
}

install_node_modules() {
  (cd "$staging" && as_builder_in_slot ${NODE_INSTALL}) || fail "npm ci of $service failed"
  # A lockfile without dependencies leaves no node_modules; the link needs one.
  [[ -d $staging/node_modules ]] || install -d -m 0755 "$staging/node_modules"
  local outside
  outside=$(link_leaving_node_modules)
  if [[ -n $outside ]]; then
    log "dependencies: not caching node $key: a link in node_modules leads to \${outside#"$staging/"} (a file: folder dependency); this release keeps its own node_modules"
    entry=""
    return 0
  fi
  install -d -m 0755 -o root -g root "$entry"
  mv -T "$staging/node_modules" "$entry/node_modules"
}

prepare_dependencies() {
  [[ -f $staging/package-lock.json ]] || fail "$service has no package-lock.json: npm ci installs exactly what a lockfile says"
  local runtime key
  # The package's own install scripts (npm ci runs preinstall, install, postinstall, prepublish,
  # preprepare, prepare and postprepare of the root package, and node-gyp for a binding.gyp)
  # may write anywhere in the release, not only under node_modules: a release that took
  # node_modules from the cache would miss what they made.
  # (A false match, such as a dependency named "install", only costs the cache.)
  if grep -Eq '"(preinstall|install|postinstall|prepublish|preprepare|prepare|postprepare)"[[:space:]]*:' "$staging/package.json" 2>/dev/null \\
    || [[ -f $staging/binding.gyp ]]; then
    log "dependencies: not caching node: package.json has install scripts of its own; installing into the release"
    (cd "$staging" && as_builder_in_slot ${NODE_INSTALL}) || fail "npm ci of $service failed"
    return 0
  fi
  runtime=$(runtime_id node node node -p 'process.versions.modules + " " + process.arch')
  key=$({
    printf '%s\\n' 'pakashop-deps/node/1' "runtime $runtime" ${shellQuote(`install ${NODE_INSTALL}`)}
    digest_file package-lock.json
    digest_file .npmrc
    # npm ci also runs the package's own install scripts and its dependencies' (Prisma's
    # postinstall generates its client from prisma/schema.prisma into node_modules): what they
    # read is part of what node_modules is made of.
    digest_file package.json
    digest_tree prisma
  } | cache_key)
  use_cache node "$key" install_node_modules
  if [[ -n $entry ]]; then
    release_links[node_modules]=$entry/node_modules
    record_cache_use
  fi
}`;
}

/** Python: one venv per requirements (and vendored files), built at its place in the cache. */
function renderPythonDependencies(): string {
    return `install_venv() {
  install -d -m 0755 -o ${shellQuote(HOST_LAYOUT.buildUser)} -g ${shellQuote(HOST_LAYOUT.buildUser)} "$entry"
  as_builder_in_slot ${PYTHON_VENV} "$entry/venv" || fail "python3 -m venv failed for $service"
  # From the release folder, so relative paths in requirements.txt (vendor/...) resolve.
  (cd "$staging" && as_builder_in_slot "$entry/venv/bin/pip" ${PIP_INSTALL_ARGS}) || fail "pip install of $service failed"
}

prepare_dependencies() {
  [[ -f $staging/requirements.txt ]] || fail "$service has no requirements.txt"
  local runtime key
  runtime=$(runtime_id python python3 python3 -c 'import platform, sys; print("%d.%d %s" % (sys.version_info[0], sys.version_info[1], platform.machine()))')
  key=$({
    printf '%s\\n' 'pakashop-deps/python/1' "runtime $runtime" ${shellQuote(`install ${PYTHON_VENV} venv; ${PYTHON_INSTALL}`)}
    digest_file requirements.txt
    digest_tree vendor
  } | cache_key)
  use_cache python "$key" install_venv
  release_links[venv]=$entry/venv
  record_cache_use
}`;
}

/**
 * Go: the module and build caches are Go's own, shared under the build user's HOME and keyed
 * by content by Go itself, so every release is compiled (its code changed, or it would not be
 * a new release) and nothing is downloaded twice. The cache entry is only a marker per module
 * set, so the logs say whether this module set was built before, as for the other languages.
 */
function renderGoDependencies(service: ServiceSpec): string {
    return `go_build() {
  (cd "$staging" && as_builder_in_slot ${goBuild(service)}) || fail "go build of $service failed"
}

mark_go_modules() {
  go_build
  install -d -m 0755 -o root -g root "$entry"
}

prepare_dependencies() {
  local runtime key
  runtime=$(runtime_id go go as_builder go env GOVERSION GOOS GOARCH)
  key=$({
    printf '%s\\n' 'pakashop-deps/go/1' "runtime $runtime" ${shellQuote(`build ${BUILD_ENVIRONMENT.filter((v) => v.startsWith("GO") || v.startsWith("CGO")).join(" ")}`)}
    digest_file go.mod
    digest_file go.sum
    digest_file vendor/modules.txt
  } | cache_key)
  use_cache go "$key" mark_go_modules
  ((cache_hit == 0)) || go_build
  record_cache_use
}`;
}

/**
 * Bash functions for one service's dependencies and build: `prepare_dependencies` works on
 * `$staging` (owned by the build user while it runs) and leaves the release complete but for
 * its ownership and modes, and for the links to the cache it records in `release_links`
 * (name -> target), which the prepare makes only once the release is sealed from the build user.
 */
export function renderDependencyFunctions(service: ServiceSpec): string {
    const language = (() => {
        switch (service.language) {
            case "node":
                return renderNodeDependencies();
            case "python":
                return renderPythonDependencies();
            case "go":
                return renderGoDependencies(service);
        }
    })();
    return `${renderAsBuilder()}

${renderCacheFunctions()}

${language}`;
}
