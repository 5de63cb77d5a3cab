/**
 * `verification`: what a stack's verification run checks after a deploy (tools/verify.ts, run
 * by Deploy staging before a revision may be promoted; docs/runbook.md, section 1): the smoke
 * paths and the load test with its thresholds. The seed (6.1, step 5) names k6; its thresholds
 * (`http_req_failed: ['rate<0.01']`, `http_req_duration: ['p(95)<500']`) are these settings.
 *
 * A stack file may set any subset: each field it leaves out keeps its default. Every field is
 * checked, because a threshold that cannot fail (an error rate of 1, a latency above the
 * request timeout, a run of a handful of requests) would make the gate pass anything.
 */
import { z } from "zod";

export interface VerificationSettings {
    /** Paths the smoke check asks for on the stack's public host; each must answer 2xx. */
    readonly smokePaths: readonly string[];
    /** The path the load test asks for. */
    readonly loadPath: string;
    /** Concurrent connections of the load test. */
    readonly connections: number;
    /** How long the load test runs at most. */
    readonly durationSeconds: number;
    /** How many requests the load test sends at most (it stops at whichever bound comes first). */
    readonly maxRequests: number;
    /** Fewer requests than this prove nothing: the run fails. */
    readonly minRequests: number;
    /** Highest share of failed requests (non-2xx, connection errors, timeouts), 0 to below 1. */
    readonly maxErrorRate: number;
    /** Highest 95th-percentile response time in milliseconds. */
    readonly maxP95LatencyMs: number;
    /** A request without an answer after this long counts as failed. */
    readonly requestTimeoutSeconds: number;
}

/**
 * Pakashop's staging defaults: the seed's health URLs (4.4) as smoke paths; the load on the
 * gateway's health path (every request crosses Cloudflare, the load balancer, nginx and the
 * gateway); 1% errors and 500 ms at p95, k6's own example thresholds.
 */
export const VERIFICATION_DEFAULTS: VerificationSettings = {
    smokePaths: ["/api/v1/health", "/api/v1/health/ready"],
    loadPath: "/api/v1/health",
    connections: 10,
    durationSeconds: 60,
    maxRequests: 30000,
    minRequests: 500,
    maxErrorRate: 0.01,
    maxP95LatencyMs: 500,
    requestTimeoutSeconds: 10,
};

export const VERIFICATION_FIELDS = Object.keys(VERIFICATION_DEFAULTS) as (keyof VerificationSettings)[];

/**
 * An absolute path of the stack's own host: a leading `/` and not `//` (a scheme-relative URL
 * would name another host), RFC 3986 path characters only (no spaces, quotes, `?`, `#` or
 * backslashes: the path reaches a URL and a report), no `..` segment.
 */
const URL_PATH = /^\/(?!\/)[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,200}$/;
const isUrlPath = (v: unknown): v is string => typeof v === "string" && URL_PATH.test(v) && !/(^|\/)\.\.?(\/|$)/.test(v);

interface NumberRule { readonly min: number; readonly max: number; readonly integer: boolean; readonly why: string }
const NUMBER_RULES: Record<Exclude<keyof VerificationSettings, "smokePaths" | "loadPath">, NumberRule> = {
    connections: { min: 1, max: 100, integer: true, why: "one GitHub-hosted runner; more would measure the runner, and Cloudflare may rate-limit it" },
    durationSeconds: { min: 5, max: 600, integer: true, why: "a run shorter than 5 s measures warm-up; one longer than 10 minutes holds staging's deploy queue" },
    maxRequests: { min: 100, max: 1_000_000, integer: true, why: "the bound on what one run may send" },
    minRequests: { min: 1, max: 1_000_000, integer: true, why: "a run of a handful of requests proves nothing" },
    maxErrorRate: { min: 0, max: 0.5, integer: false, why: "a fraction (0.01 is 1%); 1 would let a run where every request failed pass" },
    maxP95LatencyMs: { min: 1, max: 60_000, integer: false, why: "milliseconds" },
    requestTimeoutSeconds: { min: 1, max: 60, integer: true, why: "seconds a request may take before it counts as failed" },
};

/** The `verification` setting's schema: a map of the fields above, merged over the defaults. */
export function verificationSchema(fullKey: string) {
    const fixFor = (field: string, example: string) => `set ${fullKey}.${field} in the stack file, e.g. ${field}: ${example}`;
    return z.unknown().superRefine((raw, zctx) => {
        const fail = (path: string[], value: unknown, why: string, fix: string) =>
            zctx.addIssue({ code: "custom", message: why, path, params: { fix, value } });
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
            return fail([], raw, "must be a map of verification fields", `write ${fullKey}: { maxErrorRate: 0.01, maxP95LatencyMs: 500 } (fields: ${VERIFICATION_FIELDS.join(", ")})`);
        }
        const given = raw as Record<string, unknown>;
        for (const field of Object.keys(given)) {
            if (!Object.hasOwn(VERIFICATION_DEFAULTS, field)) { // also refuses __proto__, constructor, ...
                return fail([field], given[field], "is not a verification field", `use one of ${VERIFICATION_FIELDS.join(", ")}`);
            }
        }
        const v = { ...VERIFICATION_DEFAULTS, ...given } as Record<string, unknown>;
        if (!Array.isArray(v.smokePaths) || v.smokePaths.length === 0 || v.smokePaths.length > 10) {
            return fail(["smokePaths"], v.smokePaths, "must list 1 to 10 paths", fixFor("smokePaths", "[/api/v1/health]"));
        }
        for (const [index, p] of (v.smokePaths as unknown[]).entries()) {
            if (!isUrlPath(p)) return fail(["smokePaths", String(index)], p, "must be an absolute path of the stack's host (starting with one '/', URL path characters only, no '..')", fixFor("smokePaths", "[/api/v1/health]"));
        }
        if (!isUrlPath(v.loadPath)) return fail(["loadPath"], v.loadPath, "must be an absolute path of the stack's host (starting with one '/', URL path characters only, no '..')", fixFor("loadPath", "/api/v1/health"));
        for (const [field, rule] of Object.entries(NUMBER_RULES)) {
            const value = v[field];
            const example = String(VERIFICATION_DEFAULTS[field as keyof VerificationSettings]);
            if (typeof value !== "number" || !Number.isFinite(value) || (rule.integer && !Number.isInteger(value))) {
                return fail([field], value, `must be ${rule.integer ? "a whole number" : "a number"}, written without quotes`, fixFor(field, example));
            }
            if (value < rule.min || value > rule.max) return fail([field], value, `must be from ${rule.min} to ${rule.max} (${rule.why})`, fixFor(field, example));
        }
        const n = v as unknown as VerificationSettings;
        if (n.minRequests > n.maxRequests) {
            return fail(["minRequests"], n.minRequests, `is above maxRequests (${n.maxRequests}), so no run could pass`, `lower ${fullKey}.minRequests or raise maxRequests`);
        }
        if (n.maxP95LatencyMs >= n.requestTimeoutSeconds * 1000) {
            return fail(["maxP95LatencyMs"], n.maxP95LatencyMs, `is not below the request timeout (${n.requestTimeoutSeconds} s): the threshold could never be the one that fails`, `lower ${fullKey}.maxP95LatencyMs below ${n.requestTimeoutSeconds * 1000}`);
        }
    }).transform((raw) => ({ ...VERIFICATION_DEFAULTS, ...(raw as object) }) as VerificationSettings);
}
