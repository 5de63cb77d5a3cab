/**
 * The load test's verdict: its figures against the stack's thresholds (the `verification`
 * setting). Pure, so the decision is tested on exact numbers apart from any network.
 *
 * Semantics, chosen to match k6's built-in metrics the seed names: a request failed when it got
 * a non-2xx answer, a connection error or no answer in time (k6 `http_req_failed`, whose default
 * expected statuses are 200-399; redirects are not expected here, so only 2xx passes); the
 * latency percentile is over every answered request, failed ones included (k6
 * `http_req_duration`). A limit is inclusive: `maxErrorRate: 0.01` passes 1.00% and fails 1.01%.
 */
import { VerificationSettings } from "../../components/verificationSettings";

export interface LoadFigures {
    /** Requests sent and finished: answered (any status), errored or timed out. */
    readonly requests: number;
    readonly non2xx: number;
    /** Connection errors, timeouts included. */
    readonly errors: number;
    readonly timeouts: number;
    /** Response times of the answered requests, milliseconds. */
    readonly latenciesMs: readonly number[];
    readonly seconds: number;
}

export interface ThresholdCheck {
    /** The setting (`verification.<field>`) the check compares against. */
    readonly setting: "minRequests" | "maxErrorRate" | "maxP95LatencyMs";
    readonly limit: number;
    /** The measured value; undefined when there was nothing to measure (which fails). */
    readonly actual: number | undefined;
    readonly pass: boolean;
}

/**
 * The p-th percentile by the nearest-rank method: the smallest value with at least p% of the
 * values at or below it. Undefined for no values.
 */
export function percentile(values: readonly number[], p: number): number | undefined {
    if (values.length === 0) return undefined;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];
}

export function errorRate(figures: LoadFigures): number | undefined {
    return figures.requests === 0 ? undefined : (figures.non2xx + figures.errors) / figures.requests;
}

type Thresholds = Pick<VerificationSettings, "minRequests" | "maxErrorRate" | "maxP95LatencyMs">;

export function evaluateLoad(figures: LoadFigures, thresholds: Thresholds): ThresholdCheck[] {
    const rate = errorRate(figures);
    const p95 = percentile(figures.latenciesMs, 95);
    return [
        { setting: "minRequests", limit: thresholds.minRequests, actual: figures.requests, pass: figures.requests >= thresholds.minRequests },
        { setting: "maxErrorRate", limit: thresholds.maxErrorRate, actual: rate, pass: rate !== undefined && rate <= thresholds.maxErrorRate },
        { setting: "maxP95LatencyMs", limit: thresholds.maxP95LatencyMs, actual: p95, pass: p95 !== undefined && p95 <= thresholds.maxP95LatencyMs },
    ];
}
