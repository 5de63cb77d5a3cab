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
  # Checked and unpacked from a private copy: the file the SSH user can write may change
  # between the check and the unpacking; the copy can't.
  local copy actual
  copy=$(mktemp)
  cp -- "$archive" "$copy"
  actual=$(sha256sum "$copy" | cut -d' ' -f1)
  if [[ $actual != "$expected" ]]; then
    rm -f -- "$copy"
    fail "$archive has SHA-256 $actual, expected $expected: not the sources this release was packed from"
  fi
  # Owned by root with the umask's modes, not by the uid and modes of whoever packed it.
  if ! tar --extract --file "$copy" --directory "$dir" --no-same-owner --no-same-permissions; then
    rm -f -- "$copy"
    fail "cannot unpack $archive"
  fi
  rm -f -- "$copy"
}`;
}
