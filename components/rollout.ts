/**
 * Pure functions over the catalog: validation, the rollout waves and each service's
 * dependencies. The program, the unit renderer, the plan and the README diagram all derive
 * the order of section 3.2 from here, so they cannot disagree.
 */
import { Catalog, INFRASTRUCTURE_TIER, LANGUAGES, ServiceSpec, TierSpec } from "./catalog";
import { SettingError } from "./errors";
import { FLEET_HEALTH_PORT, FLEET_HEALTH_UNIT } from "../host/health/fleetHealth";

const ID_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;
const SAFE_RELATIVE_PATH = /^(?!\/)(?!.*\.\.)[A-Za-z0-9._/-]+$/;
const SAFE_URL_PATH = /^\/[A-Za-z0-9._~/-]*$/;
/** Ports the host itself uses (SSH, nginx, the load balancer's health check); a service may not take them. */
export const RESERVED_PORTS: ReadonlyMap<number, string> = new Map([
    [22, "sshd"],
    [80, "nginx"],
    [443, "nginx"],
    [FLEET_HEALTH_PORT, `${FLEET_HEALTH_UNIT} (the load balancer's health check, host/health/fleetHealth.ts)`],
]);
/** Service ids whose unit name (`pakashop-<id>.service`) a host unit of the platform already has. */
const RESERVED_SERVICE_IDS: ReadonlyMap<string, string> = new Map([
    ["health", FLEET_HEALTH_UNIT],
]);
const FIX_CATALOG = "correct it in pakashop-infra:services (stack file) or components/catalog.ts";

/**
 * Checks the catalog and throws a {@link SettingError} on the first problem: bad ids, unknown
 * languages, duplicate or reserved ports, unsafe paths, unknown tiers, tier cycles, empty tiers.
 */
export function validateCatalog(catalog: Catalog): void {
    validateTiers(catalog.tiers);
    const tierIds = new Set(catalog.tiers.map((t) => t.id));
    const portOwners = new Map<number, string>();
    for (const [key, service] of Object.entries(catalog.services)) {
        validateService(key, service, tierIds);
        const owner = portOwners.get(service.port);
        if (owner !== undefined) {
            throw new SettingError(`services.${service.id}.port`, service.port,
                `ports must be unique; ${service.port} is also used by ${owner}`,
                `give ${service.id} a free port (${FIX_CATALOG})`);
        }
        portOwners.set(service.port, service.id);
    }
    for (const tier of catalog.tiers) {
        if (!Object.values(catalog.services).some((s) => s.tier === tier.id)) {
            throw new SettingError(`tiers.${tier.id}`, [], "every tier needs at least one service",
                `move a service into tier ${tier.id} or remove the tier from components/catalog.ts`);
        }
    }
}

function validateTiers(tiers: readonly TierSpec[]): void {
    const byId = new Map<string, TierSpec>();
    for (const tier of tiers) {
        if (!ID_PATTERN.test(tier.id) || tier.id === INFRASTRUCTURE_TIER) {
            throw new SettingError("tiers[].id", tier.id, `a tier id is lower-case letters, digits and '-', and not '${INFRASTRUCTURE_TIER}'`, "rename the tier in components/catalog.ts");
        }
        if (byId.has(tier.id)) {
            throw new SettingError(`tiers.${tier.id}`, tier.id, "tier ids must be unique", "merge or rename the duplicate tier in components/catalog.ts");
        }
        byId.set(tier.id, tier);
    }
    for (const tier of tiers) {
        if (tier.after !== INFRASTRUCTURE_TIER && !byId.has(tier.after)) {
            throw new SettingError(`tiers.${tier.id}.after`, tier.after,
                `a tier starts after a known tier (${[INFRASTRUCTURE_TIER, ...byId.keys()].join(", ")})`,
                "name an existing tier in components/catalog.ts");
        }
        // Walk the chain back to the infrastructure tier; meeting a tier twice is a cycle.
        const seen = [tier.id];
        let current = tier;
        while (current.after !== INFRASTRUCTURE_TIER) {
            const next = byId.get(current.after) as TierSpec;
            if (seen.includes(next.id)) {
                throw new SettingError(`tiers.${tier.id}.after`, tier.after,
                    `tiers must not form a cycle (${[...seen, next.id].join(" -> ")})`,
                    `make one tier of the cycle start after ${INFRASTRUCTURE_TIER} or an earlier tier in components/catalog.ts`);
            }
            seen.push(next.id);
            current = next;
        }
    }
}

function validateService(key: string, s: ServiceSpec, tierIds: ReadonlySet<string>): void {
    const at = `services.${key}`;
    if (!ID_PATTERN.test(s.id) || s.id !== key) {
        throw new SettingError(`${at}.id`, s.id, `a service id is lower-case letters, digits and '-' (at most 31) and equals its key '${key}'`, FIX_CATALOG);
    }
    const unitOwner = RESERVED_SERVICE_IDS.get(s.id);
    if (unitOwner) {
        throw new SettingError(`${at}.id`, s.id, `the id '${s.id}' would name the unit ${unitOwner}, which the platform installs on every backend host`, FIX_CATALOG);
    }
    if (!(LANGUAGES as readonly string[]).includes(s.language)) {
        throw new SettingError(`${at}.language`, s.language, `the language must be one of ${LANGUAGES.join(", ")}`, `pick one of ${LANGUAGES.join(", ")} or teach host/prepare the new language`);
    }
    if (!Number.isInteger(s.port) || s.port < 1024 || s.port > 65535) {
        throw new SettingError(`${at}.port`, s.port, "a port is an integer from 1024 to 65535 (services run unprivileged)", FIX_CATALOG);
    }
    const reservedBy = RESERVED_PORTS.get(s.port);
    if (reservedBy) {
        throw new SettingError(`${at}.port`, s.port, `port ${s.port} is taken by ${reservedBy} on the host`, FIX_CATALOG);
    }
    if (!tierIds.has(s.tier)) {
        throw new SettingError(`${at}.tier`, s.tier, `the tier must be one of ${[...tierIds].join(", ")} (section 3.2)`, FIX_CATALOG);
    }
    if (!SAFE_RELATIVE_PATH.test(s.entryPoint)) {
        throw new SettingError(`${at}.entryPoint`, s.entryPoint, "an entry point is a relative path inside the service folder (letters, digits, . _ / -, no '..')", FIX_CATALOG);
    }
    // No dot segments: the path is joined to the service's URL by the health gate and nginx.
    if (s.healthPath.split("/").some((segment) => segment === ".." || segment === ".")) {
        throw new SettingError(`${at}.healthPath`, s.healthPath, "a health path holds no '.' or '..' segments", FIX_CATALOG);
    }
    if (!SAFE_URL_PATH.test(s.healthPath)) {
        throw new SettingError(`${at}.healthPath`, s.healthPath, "a health path starts with '/' and holds only URL path characters (letters, digits, . _ ~ / -)", FIX_CATALOG);
    }
}

/** The tiers in rollout order: the one after infrastructure first. Assumes a valid catalog. */
export function orderedTiers(catalog: Catalog): TierSpec[] {
    const ordered: TierSpec[] = [];
    const placed = new Set<string>([INFRASTRUCTURE_TIER]);
    while (ordered.length < catalog.tiers.length) {
        const ready = catalog.tiers.filter((t) => !placed.has(t.id) && placed.has(t.after));
        if (ready.length === 0) throw new Error("orderedTiers: catalog not validated (tier cycle)");
        for (const tier of ready) {
            ordered.push(tier);
            placed.add(tier.id);
        }
    }
    return ordered;
}

/** A rollout wave: one tier's services, deployed in parallel once the previous wave is healthy. */
export interface Wave {
    readonly tier: TierSpec;
    readonly serviceIds: readonly string[];
}

/** The rollout waves of section 3.2, tier by tier; services inside a wave in catalog order. */
export function rolloutWaves(catalog: Catalog): Wave[] {
    return orderedTiers(catalog).map((tier) => ({
        tier,
        serviceIds: Object.values(catalog.services).filter((s) => s.tier === tier.id).map((s) => s.id),
    }));
}

/**
 * The services a service waits for: every service of the tier its tier starts after, or none
 * when that is the infrastructure tier (whose resources the program adds itself).
 */
export function serviceDependencies(catalog: Catalog, serviceId: string): string[] {
    const service = catalog.services[serviceId];
    if (!service) throw new Error(`serviceDependencies: unknown service ${serviceId}`);
    const tier = catalog.tiers.find((t) => t.id === service.tier);
    if (!tier || tier.after === INFRASTRUCTURE_TIER) return [];
    return Object.values(catalog.services).filter((s) => s.tier === tier.after).map((s) => s.id);
}
