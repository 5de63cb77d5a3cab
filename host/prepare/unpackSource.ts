/**
 * The source half of a deploy, on the host: unpack the service's sources from the tarball the
 * copy step shipped (see components/sources.ts), after checking it is exactly the tarball the
 * program packed. The host fetches nothing and holds no credential for the monorepo.
 */
import { incomingSourceArchive } from "../layout";
import { shellQuote } from "../shell";

/** The tarball a deploy unpacks. */
export interface SourceArgs {
    /** SHA-256 of the tarball, computed where it was packed. */
    readonly sha256: string;
}

/**
 * A bash function `unpack_source SERVICE DIR` that extracts `services/SERVICE/` of the shipped
 * tarball into DIR (which must be empty), or fails naming what is wrong. Needs the `log` and
 * `fail` helpers of `scriptHeader`.
 */
export function renderUnpackSourceFunction(serviceId: string, args: SourceArgs): string {
    return `unpack_source() {
  local service=$1 dir=$2
  local archive=${shellQuote(incomingSourceArchive(serviceId))}
  local expected=${shellQuote(args.sha256)}
  [[ -f $archive ]] || fail "no sources at $archive: the copy step did not run on this host"
  local actual
  actual=$(sha256sum "$archive" | cut -d' ' -f1)
  [[ $actual == "$expected" ]] || fail "$archive has SHA-256 $actual, expected $expected: not the sources this deploy packed"
  # The archive holds services/<id>/...; keep only that folder, owned by root, not by the
  # uid that packed it.
  tar --extract --file "$archive" --directory "$dir" --strip-components=2 --no-same-owner --no-same-permissions "services/$service" \\
    || fail "cannot unpack services/$service from $archive"
}`;
}
