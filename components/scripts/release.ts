/**
 * Fetches the stack's branch into a bare clone on the host and exports each configured
 * revision into its own read-only folder. A revision that is not on the stack's branch is
 * refused, so the production host only ever runs commits of `production`.
 */
import { HOST_LAYOUT } from "../hostLayout";
import { scriptHeader, shellQuote } from "./shell";

/** What the release step needs. */
export interface ReleaseScriptArgs {
    /** Git URL the host fetches from. */
    readonly repositoryUrl: string;
    /** The stack's branch (`main` for staging, `production` for production). */
    readonly branch: string;
    /** Full commit ids to export; duplicates are ignored. */
    readonly revisions: readonly string[];
}

export function renderReleaseScript(args: ReleaseScriptArgs): string {
    const revisions = [...new Set(args.revisions)].sort();
    return `${scriptHeader("release")}
repository_url=${shellQuote(args.repositoryUrl)}
branch=${shellQuote(args.branch)}
revisions=(${revisions.map(shellQuote).join(" ")})
repo=${shellQuote(HOST_LAYOUT.repository)}
sources=${shellQuote(HOST_LAYOUT.sources)}

[[ -d $repo ]] || git init --quiet --bare "$repo"
git -C "$repo" fetch --quiet --no-tags --prune "$repository_url" "+refs/heads/$branch:refs/remotes/origin/$branch" \\
  || fail "cannot fetch branch $branch from $repository_url"

for revision in "\${revisions[@]}"; do
  target="$sources/$revision"
  if [[ -f $target/.pakashop-source ]]; then
    log "$revision already exported"
    continue
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
done
`;
}
