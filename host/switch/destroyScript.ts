/**
 * The switch step's delete. The switch is replaced only with its host (its script changing is an
 * update, components/remoteStep.ts), so its delete means either `pulumi destroy` or "the host
 * this switch ran on was replaced". A replaced host keeps its address and pinned key, so the old
 * step's delete reaches the NEW host: it compares the host's recorded instance id with its own
 * and leaves a different host alone.
 */
import { HOST_LAYOUT } from "../layout";
import { scriptHeader, shellQuote } from "../shell";

/** The destroy script: removes every pakashop service from the host it ran on (`hostId`), and nothing elsewhere. */
export function renderDestroyScript(hostId: string): string {
    const L = HOST_LAYOUT;
    // Shown in a log line: an id with odd characters is shown masked, never interpreted.
    const shownId = hostId.replace(/[^A-Za-z0-9._-]/g, "?");
    return `${scriptHeader("destroy services")}host_id=$(cat ${shellQuote(L.hostIdFile)} 2>/dev/null || true)
if [[ $host_id != ${shellQuote(hostId)} ]]; then
  log "this switch ran on instance ${shownId}, the host is now \${host_id:-unknown}: it was replaced; nothing to remove"
  exit 0
fi
units=()
for path in ${shellQuote(L.unitDir)}/pakashop-*.service; do
  if [[ -e $path ]]; then units+=("\${path##*/}"); fi
done
if ((\${#units[@]} > 0)); then
  systemctl disable --now --quiet "\${units[@]}" || true
  for unit in "\${units[@]}"; do
    rm -f ${shellQuote(L.unitDir)}/"$unit"
    id=\${unit#pakashop-}
    id=\${id%.service}
    rm -f ${shellQuote(L.environmentDir)}/"$id.env"
  done
  systemctl daemon-reload
fi
rm -rf -- ${shellQuote(L.services)}/*
log "removed \${#units[@]} services"
`;
}
