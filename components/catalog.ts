/**
 * The service catalog: the seed's table 3.1 (units, ports, languages) and section 3.2 (the
 * dependency order), as typed data. Everything the program knows about a service comes from
 * here; ordering, unit rendering and script rendering are pure functions beside it.
 */

/** Languages a service can be written in; each has its own build and `ExecStart`. */
export const LANGUAGES = ["node", "go", "python"] as const;
export type Language = (typeof LANGUAGES)[number];

/**
 * The name of the infrastructure tier of section 3.2 step 1 (Redis, PostgreSQL, Meilisearch).
 * It lives on other hosts, so it has no units here; the first service tier follows it.
 */
export const INFRASTRUCTURE_TIER = "infrastructure";

/** One tier of section 3.2: its services start only after every service of `after` is healthy. */
export interface TierSpec {
    /** Stable key of the tier (used in names and messages). */
    readonly id: string;
    /** Section 3.2's step number, for people reading plans and docs. */
    readonly step: number;
    /** The tier this one starts after: another tier's id, or {@link INFRASTRUCTURE_TIER}. */
    readonly after: string;
    /** Why the tier exists, in the seed's words. */
    readonly description: string;
}

/** One backend service of table 3.1, with the facts a deploy needs. */
export interface ServiceSpec {
    /** Stable key (`gateway`, `backend`, ...): part of unit names, paths and resource names. */
    readonly id: string;
    /** Human name from table 3.1. */
    readonly displayName: string;
    /** TCP port the service listens on (table 3.1). */
    readonly port: number;
    /** Runtime; picks the build command and `ExecStart`. */
    readonly language: Language;
    /** The tier of section 3.2 the service belongs to. */
    readonly tier: string;
    /**
     * Entry point relative to the service's folder in the monorepo (`services/<id>`): the
     * script Node or Python runs, or the Go package `go build` compiles (the seed's `./src`).
     */
    readonly entryPoint: string;
    /** HTTP path that answers 2xx once the service can take traffic; the deploy's health gate. */
    readonly healthPath: string;
    /** Whether the deploy runs `prisma migrate deploy` before restarting the service. */
    readonly runsMigrations: boolean;
}

/** The whole catalog: tiers in the order of section 3.2, and the services keyed by id. */
export interface Catalog {
    readonly tiers: readonly TierSpec[];
    readonly services: Readonly<Record<string, ServiceSpec>>;
}

/** The systemd unit name of a service, as in table 3.1. */
export function unitName(serviceId: string): string {
    return `pakashop-${serviceId}.service`;
}

/** Section 3.2, steps 2 to 5 (step 1 is {@link INFRASTRUCTURE_TIER}). */
export const TIERS: readonly TierSpec[] = [
    { id: "config", step: 2, after: INFRASTRUCTURE_TIER, description: "feature flags needed by all" },
    { id: "gateway", step: 3, after: "config", description: "API gateway, depends on config" },
    { id: "core", step: 4, after: "gateway", description: "core services" },
    { id: "supporting", step: 5, after: "core", description: "supporting services" },
];

const NODE_ENTRY = "src/index.js";
const GO_PACKAGE = "./src";
const PYTHON_ENTRY = "main.py";
const SERVICE_HEALTH = "/health";

function node(id: string, displayName: string, port: number, tier: string, runsMigrations = false): ServiceSpec {
    return { id, displayName, port, language: "node", tier, entryPoint: NODE_ENTRY, healthPath: SERVICE_HEALTH, runsMigrations };
}
function go(id: string, displayName: string, port: number, tier: string): ServiceSpec {
    return { id, displayName, port, language: "go", tier, entryPoint: GO_PACKAGE, healthPath: SERVICE_HEALTH, runsMigrations: false };
}
function python(id: string, displayName: string, port: number, tier: string): ServiceSpec {
    return { id, displayName, port, language: "python", tier, entryPoint: PYTHON_ENTRY, healthPath: SERVICE_HEALTH, runsMigrations: false };
}

/**
 * Table 3.1, in its own order. Migrations: the seed runs `npx prisma migrate deploy # if
 * applicable` in every Node service; only the backend owns the Prisma schema, and running the
 * same migrations from 14 services of one tier in parallel would race on Prisma's migration
 * lock, so `backend` is the one service flagged.
 */
const SERVICE_LIST: readonly ServiceSpec[] = [
    // The gateway is what nginx and Cloudflare reach; its health path is the seed's public one.
    { ...node("gateway", "API Gateway", 8000, "gateway"), healthPath: "/api/v1/health" },
    node("backend", "Backend API", 3080, "core", true),
    node("config", "Config Service", 3085, "config"),
    node("notifications", "Notifications", 3090, "supporting"),
    node("tracking", "Tracking", 3120, "supporting"),
    python("moderation", "Moderation", 3110, "supporting"),
    python("recommendations", "Recommendations", 3100, "supporting"),
    node("scheduler", "Scheduler", 3004, "supporting"),
    go("search", "Search", 3005, "core"),
    go("analytics", "Analytics", 3007, "core"),
    node("fraud", "Fraud", 3006, "supporting"),
    node("coupon", "Coupon", 3008, "supporting"),
    node("loyalty", "Loyalty", 3010, "supporting"),
    node("whatsapp", "WhatsApp", 3009, "supporting"),
    node("reports", "Reports", 3011, "supporting"),
    node("reconciliation", "Reconciliation", 3012, "supporting"),
    node("invoicing", "Invoicing", 3013, "supporting"),
    node("pricing", "Pricing", 3014, "supporting"),
    node("settlement", "Settlement", 3016, "supporting"),
];

/** The catalog as the seed defines it. Per-stack overrides are applied by `applyOverrides`. */
export const CATALOG: Catalog = {
    tiers: TIERS,
    services: Object.fromEntries(SERVICE_LIST.map((s) => [s.id, s])),
};
