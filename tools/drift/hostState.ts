/**
 * What a backend host should look like (from the same renderers the program deploys with),
 * and a probe that reads what it does look like in one SSH round trip.
 */
import { createHash } from "crypto";
import { unitName } from "../../components/catalog";
import { HOST_LAYOUT } from "../../host/layout";
import { StackSettings } from "../../components/settings";
import { renderUnit } from "../../host/units/systemdUnit";

/** One service as the program deploys it, or as the probe found it. */
export interface ServiceState {
    readonly service: string;
    readonly unit: string;
    /** SHA-256 of the unit file, or `missing`. */
    readonly unitFile: string;
    /** `systemctl is-enabled` (`enabled` when deployed). */
    readonly enabled: string;
    /** `systemctl is-active` (`active` when deployed). */
    readonly active: string;
    /**
     * The release `current` points at (named by the service folder's content and recipe,
     * host/prepare/prepareScript.ts), or `none`.
     */
    readonly release: string;
}

/**
 * The state the program leaves every service in.
 * @param releases the release each service should run (`releaseIdOf` its folder's tree)
 */
export function expectedHostState(settings: StackSettings, releases: Readonly<Record<string, string>>): ServiceState[] {
    return Object.keys(settings.catalog.services).map((id) => ({
        service: id,
        unit: unitName(id),
        unitFile: createHash("sha256").update(renderUnit(settings.catalog, id)).digest("hex"),
        enabled: "enabled",
        active: "active",
        release: releases[id],
    }));
}

/**
 * A bash script printing one tab-separated line per service (`service unit-sha enabled active
 * release`) and one `unit <name>` line per pakashop unit file present, catalog or not.
 */
export function renderProbeScript(serviceIds: readonly string[]): string {
    return `#!/usr/bin/env bash
# pakashop-infra drift probe: reads, never changes, the host.
set -euo pipefail
for service in ${serviceIds.join(" ")}; do
  unit="pakashop-$service.service"
  path="${HOST_LAYOUT.unitDir}/$unit"
  if [[ -f $path ]]; then sha=$(sha256sum "$path" | cut -d' ' -f1); else sha=missing; fi
  enabled=$(systemctl is-enabled "$unit" 2>/dev/null || true)
  active=$(systemctl is-active "$unit" 2>/dev/null || true)
  current=$(readlink "${HOST_LAYOUT.services}/$service/current" 2>/dev/null || true)
  printf 'service\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$service" "$sha" "\${enabled:-unknown}" "\${active:-unknown}" "\${current##*/}"
done
for path in ${HOST_LAYOUT.unitDir}/pakashop-*.service; do
  [[ -e $path ]] && printf 'unit\\t%s\\n' "\${path##*/}"
done
exit 0
`;
}

/** What the probe printed, parsed. */
export interface ProbeResult {
    readonly services: ServiceState[];
    readonly unitFiles: string[];
}

export function parseProbeOutput(output: string): ProbeResult {
    const services: ServiceState[] = [];
    const unitFiles: string[] = [];
    for (const line of output.split("\n").filter((l) => l.trim() !== "")) {
        const fields = line.split("\t");
        if (fields[0] === "service" && fields.length === 6) {
            const [, service, unitFile, enabled, active, release] = fields;
            services.push({ service, unit: unitName(service), unitFile, enabled, active, release: release || "none" });
        } else if (fields[0] === "unit" && fields.length === 2) {
            unitFiles.push(fields[1]);
        } else {
            throw new Error(`drift probe printed an unexpected line: ${JSON.stringify(line)}`);
        }
    }
    return { services, unitFiles };
}
