import { strict as assert } from "assert";
import { Catalog, CATALOG, ServiceSpec, TIERS, unitName } from "../components/catalog";
import { SettingError } from "../components/errors";
import { rolloutWaves, serviceDependencies, validateCatalog } from "../components/rollout";

/** The seed's table 3.1, transcribed: unit, port, language. */
const SEED_TABLE_3_1: [string, number, string][] = [
    ["pakashop-gateway.service", 8000, "node"],
    ["pakashop-backend.service", 3080, "node"],
    ["pakashop-config.service", 3085, "node"],
    ["pakashop-notifications.service", 3090, "node"],
    ["pakashop-tracking.service", 3120, "node"],
    ["pakashop-moderation.service", 3110, "python"],
    ["pakashop-recommendations.service", 3100, "python"],
    ["pakashop-scheduler.service", 3004, "node"],
    ["pakashop-search.service", 3005, "go"],
    ["pakashop-analytics.service", 3007, "go"],
    ["pakashop-fraud.service", 3006, "node"],
    ["pakashop-coupon.service", 3008, "node"],
    ["pakashop-loyalty.service", 3010, "node"],
    ["pakashop-whatsapp.service", 3009, "node"],
    ["pakashop-reports.service", 3011, "node"],
    ["pakashop-reconciliation.service", 3012, "node"],
    ["pakashop-invoicing.service", 3013, "node"],
    ["pakashop-pricing.service", 3014, "node"],
    ["pakashop-settlement.service", 3016, "node"],
];

/** The seed's section 3.2, steps 2 to 5, transcribed. */
export const SEED_SECTION_3_2: string[][] = [
    ["config"],
    ["gateway"],
    ["backend", "search", "analytics"],
    ["notifications", "tracking", "moderation", "recommendations", "fraud", "coupon", "loyalty",
        "whatsapp", "reports", "reconciliation", "invoicing", "pricing", "settlement", "scheduler"],
];

const sorted = (ids: readonly string[]) => [...ids].sort();

function withService(id: string, change: Partial<ServiceSpec>): Catalog {
    return { tiers: CATALOG.tiers, services: { ...CATALOG.services, [id]: { ...CATALOG.services[id], ...change } } };
}

function assertSettingError(fn: () => void, setting: string, value: string, rule: RegExp): void {
    assert.throws(fn, (error: unknown) => {
        assert.ok(error instanceof SettingError, `expected a SettingError, got ${String(error)}`);
        assert.equal(error.setting, setting);
        assert.ok(error.message.includes(value), `message names the value ${value}: ${error.message}`);
        assert.match(error.message, rule);
        assert.match(error.message, /Fix: \S/);
        return true;
    });
}

describe("service catalog", () => {
    it("holds the 19 services of table 3.1 with their units, ports and languages", () => {
        const actual = Object.values(CATALOG.services).map((s) => [unitName(s.id), s.port, s.language]);
        assert.deepEqual(actual, SEED_TABLE_3_1);
    });

    it("puts every service in the tier of section 3.2", () => {
        const waves = rolloutWaves(CATALOG);
        assert.deepEqual(waves.map((w) => w.tier.id), ["config", "gateway", "core", "supporting"]);
        assert.deepEqual(waves.map((w) => sorted(w.serviceIds)), SEED_SECTION_3_2.map(sorted));
        assert.deepEqual(waves.map((w) => w.tier.step), [2, 3, 4, 5]);
    });

    it("makes each service depend on every service of the tier before, and the first tier on none", () => {
        assert.deepEqual(serviceDependencies(CATALOG, "config"), []);
        assert.deepEqual(serviceDependencies(CATALOG, "gateway"), ["config"]);
        assert.deepEqual(sorted(serviceDependencies(CATALOG, "search")), ["gateway"]);
        assert.deepEqual(sorted(serviceDependencies(CATALOG, "settlement")), ["analytics", "backend", "search"]);
    });

    it("flags migrations for the schema owner only and gives the gateway the public health path", () => {
        assert.deepEqual(Object.values(CATALOG.services).filter((s) => s.runsMigrations).map((s) => s.id), ["backend"]);
        assert.equal(CATALOG.services.gateway.healthPath, "/api/v1/health");
        assert.equal(CATALOG.services.search.entryPoint, "./src");
    });

    it("accepts the seed's catalog", () => {
        assert.doesNotThrow(() => validateCatalog(CATALOG));
    });

    describe("rejects bad catalogs with the setting, the value and the fix", () => {
        it("a duplicate port", () => assertSettingError(() => validateCatalog(withService("search", { port: 3006 })),
            "services.fraud.port", "3006", /ports must be unique; 3006 is also used by search/));
        it("a port below 1024", () => assertSettingError(() => validateCatalog(withService("search", { port: 80 })),
            "services.search.port", "80", /from 1024 to 65535/));
        it("an unknown language", () => assertSettingError(() => validateCatalog(withService("search", { language: "rust" as never })),
            "services.search.language", "\"rust\"", /one of node, go, python/));
        it("an unknown tier", () => assertSettingError(() => validateCatalog(withService("search", { tier: "edge" })),
            "services.search.tier", "\"edge\"", /config, gateway, core, supporting/));
        it("an unknown tier dependency", () => assertSettingError(
            () => validateCatalog({ ...CATALOG, tiers: TIERS.map((t) => (t.id === "core" ? { ...t, after: "gatewy" } : t)) }),
            "tiers.core.after", "\"gatewy\"", /a tier starts after a known tier/));
        it("a cycle between tiers", () => assertSettingError(
            () => validateCatalog({ ...CATALOG, tiers: TIERS.map((t) => (t.id === "config" ? { ...t, after: "supporting" } : t)) }),
            "tiers.config.after", "\"supporting\"", /cycle \(config -> supporting -> core -> gateway -> config\)/));
        it("an empty tier", () => assertSettingError(() => validateCatalog(withService("config", { tier: "gateway" })),
            "tiers.config", "[]", /at least one service/));
        it("a health path that is not a URL path", () => assertSettingError(() => validateCatalog(withService("search", { healthPath: "health; rm -rf /" })),
            "services.search.healthPath", "health; rm -rf /", /starts with '\/'/));
        it("a health path with dot segments", () => assertSettingError(() => validateCatalog(withService("search", { healthPath: "/../../etc/passwd" })),
            "services.search.healthPath", "/../../etc/passwd", /no '\.' or '\.\.' segments/));
        it("an entry point escaping the service folder", () => assertSettingError(() => validateCatalog(withService("backend", { entryPoint: "../gateway/src/index.js" })),
            "services.backend.entryPoint", "../gateway", /no '\.\.'/));
    });
});
