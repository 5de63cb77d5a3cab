/**
 * The source half of a deploy: make sure one revision of the services monorepo is on the host,
 * exported read-only to its own folder. Part of each service's deploy step (not a shared step),
 * so a new revision of one service re-runs that service's step and nothing else. Parallel
 * deploys of one tier serialize on a lock around the shared bare clone.
 *
 * A revision that is not on the stack's branch is refused, so the production host only ever
 * runs commits of `production`.
 */
import { HOST_LAYOUT } from "../hostLayout";
import { shellQuote } from "./shell";

/** Where the revisions come from. */
export interface SourceArgs {
    /** Git URL the host fetches from. */
    readonly repositoryUrl: string;
    /** The stack's branch (`main` for staging, `production` for production). */
    readonly branch: string;
}

/**
 * A bash function `ensure_source REVISION` that leaves the revision exported under
 * `${HOST_LAYOUT.sources}/REVISION`. Needs the `log` and `fail` helpers of `scriptHeader`.
 */
export function renderEnsureSourceFunction(args: SourceArgs): string {
    return `ensure_source() {
  local revision=$1
  local repository_url=${shellQuote(args.repositoryUrl)}
  local branch=${shellQuote(args.branch)}
  local repo=${shellQuote(HOST_LAYOUT.repository)}
  local target=${shellQuote(HOST_LAYOUT.sources)}/$revision
  [[ -f $target/.pakashop-source ]] && return 0
  exec 9>${shellQuote(`${HOST_LAYOUT.root}/repo.lock`)}
  flock 9
  if [[ ! -f $target/.pakashop-source ]]; then
    [[ -d $repo ]] || git init --quiet --bare "$repo"
    if ! git -C "$repo" cat-file -e "$revision^{commit}" 2>/dev/null; then
      log "fetching $branch from $repository_url"
      git -C "$repo" fetch --quiet --no-tags --prune "$repository_url" "+refs/heads/$branch:refs/remotes/origin/$branch" \\
        || fail "cannot fetch branch $branch from $repository_url"
    fi
    git -C "$repo" cat-file -e "$revision^{commit}" 2>/dev/null \\
      || fail "revision $revision does not exist in $repository_url"
    git -C "$repo" merge-base --is-ancestor "$revision" "refs/remotes/origin/$branch" \\
      || fail "revision $revision is not on branch $branch; this stack deploys only commits of $branch"
    rm -rf "$target.partial"
    mkdir -p "$target.partial"
    git -C "$repo" archive --format=tar "$revision" | tar -x -C "$target.partial"
    touch "$target.partial/.pakashop-source"
    # Read-only from here on: a deploy never edits code a running service uses.
    chmod -R a-w "$target.partial"
    mv -T "$target.partial" "$target"
    log "exported $revision"
  fi
  flock -u 9
  exec 9>&-
}`;
}
