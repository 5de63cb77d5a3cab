/**
 * The source half of a prepare, on the host: unpack the service's sources from the tarball the
 * copy step shipped (see components/sources.ts), after checking it is exactly the tarball the
 * program packed. The host fetches nothing and holds no credential for the monorepo.
 */
import { incomingSourceArchive } from "../layout";
import { shellQuote } from "../shell";

/** The tarball a prepare unpacks. */
export interface SourceArgs {
    /** SHA-256 of the tarball, computed where it was packed. */
    readonly sha256: string;
}

/**
 * A bash function `unpack_source DIR` that extracts the service's shipped tarball into DIR
 * (which must exist and be empty), or fails naming what is wrong. The tarball is a TREE archive
 * (`git archive <rev>:services/<id>`): its entries are the service folder's own paths, so
 * nothing is stripped. Needs the `log` and `fail` helpers of `scriptHeader`.
 */
export function renderUnpackSourceFunction(serviceId: string, args: SourceArgs): string {
    return `unpack_source() {
  local dir=$1
  local archive=${shellQuote(incomingSourceArchive(serviceId))}
  local expected=${shellQuote(args.sha256)}
  [[ -f $archive ]] || fail "no sources at $archive: the copy step did not run on this host"
  local actual
  actual=$(sha256sum "$archive" | cut -d' ' -f1)
  [[ $actual == "$expected" ]] || fail "$archive has SHA-256 $actual, expected $expected: not the sources this release was packed from"
  # Owned by root with the umask's modes, not by the uid and modes of whoever packed it.
  tar --extract --file "$archive" --directory "$dir" --no-same-owner --no-same-permissions \\
    || fail "cannot unpack $archive"
}`;
}
