/**
 * Renders a service's systemd unit from the catalog. Pure: same catalog, same text, so the
 * unit's hash is a stable deploy trigger.
 */
import { Catalog, ServiceSpec, unitName } from "../../components/catalog";
import { currentReleaseDir, environmentFile, HOST_LAYOUT } from "../layout";
import { serviceDependencies } from "../../components/rollout";
import { SANDBOX_DIRECTIVES } from "./sandbox";

/** The node binary on the hosts: Debian's `nodejs` package. */
export const NODE_BINARY = "/usr/bin/node";

/** The command line systemd starts, per language, reading the release through `current`. */
export function execStart(service: ServiceSpec): string {
    const release = currentReleaseDir(service.id);
    switch (service.language) {
        case "node":
            return `${NODE_BINARY} ${release}/${service.entryPoint}`;
        case "go":
            return `${release}/bin/${service.id}`;
        case "python":
            return `${release}/venv/bin/python ${release}/${service.entryPoint}`;
    }
}

/** The services' system-call filter: the service set, minus privileged and resource calls. */
const SERVICE_SYSCALLS = ["SystemCallFilter=@system-service", "SystemCallFilter=~@privileged @resources"];

/**
 * V8 and CPython's ctypes need writable+executable memory; Go binaries don't. So only Go
 * services get `MemoryDenyWriteExecute`, the one hardening switch that breaks a runtime.
 */
function languageHardening(service: ServiceSpec): string[] {
    return service.language === "go" ? ["MemoryDenyWriteExecute=yes"] : [];
}

function languageEnvironment(service: ServiceSpec): string[] {
    switch (service.language) {
        case "node":
            return ["Environment=NODE_ENV=production"];
        case "go":
            return [];
        case "python":
            return ["Environment=PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1"];
    }
}

/** The full unit file text for one service. */
export function renderUnit(catalog: Catalog, serviceId: string): string {
    const service = catalog.services[serviceId];
    if (!service) throw new Error(`renderUnit: unknown service ${serviceId}`);
    // Ordering on the tier before, as section 3.2 says. `Wants=` (not `Requires=`) so a restart
    // of a dependency does not restart or stop its dependents; the deploy's health gate, not
    // systemd, decides when the next tier may go.
    const before = serviceDependencies(catalog, serviceId).map(unitName);
    const ordering = ["network-online.target", ...before].join(" ");
    return [
        "# Managed by pakashop-infra (Pulumi). Edits on the host are reported as drift.",
        "[Unit]",
        `Description=Pakashop ${service.displayName} (${service.language}, port ${service.port})`,
        `After=${ordering}`,
        `Wants=${ordering}`,
        "StartLimitIntervalSec=300",
        "StartLimitBurst=10",
        "",
        "[Service]",
        "Type=exec",
        `User=${HOST_LAYOUT.serviceUser}`,
        `Group=${HOST_LAYOUT.serviceUser}`,
        `WorkingDirectory=${currentReleaseDir(service.id)}`,
        `EnvironmentFile=${environmentFile(service.id)}`,
        `Environment=PORT=${service.port} PAKASHOP_SERVICE=${service.id}`,
        ...languageEnvironment(service),
        `ExecStart=${execStart(service)}`,
        "Restart=on-failure",
        "RestartSec=2s",
        "TimeoutStopSec=30s",
        `StateDirectory=pakashop/${service.id}`,
        ...SANDBOX_DIRECTIVES,
        ...SERVICE_SYSCALLS,
        ...languageHardening(service),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}
