/**
 * The load test: autocannon against the stack's load path for at most `durationSeconds` and at
 * most `maxRequests` requests, recording every response time (autocannon's summary has no 95th
 * percentile, so the verdict computes it from the raw times: thresholds.ts).
 *
 * Why autocannon and not k6, which the seed names: k6 is a Go binary that neither npm nor
 * Debian ships (the npm package `k6` is an empty placeholder), and the test that proves the
 * thresholds (tests/e2e/verification.e2e.ts) must run the same load generator the workflow runs.
 * The thresholds keep k6's meaning (thresholds.ts).
 *
 * autocannon never verifies the server's certificate (it connects with rejectUnauthorized false,
 * lib/httpClient.js); the smoke check, which runs first against the same host, does.
 */
import autocannon from "autocannon";
import { VerificationSettings } from "../../components/verificationSettings";
import { portOf, Target } from "./target";
import { LoadFigures } from "./thresholds";

export type LoadSettings = Pick<VerificationSettings, "loadPath" | "connections" | "durationSeconds" | "maxRequests" | "requestTimeoutSeconds">;

export function runLoad(target: Target, settings: LoadSettings): Promise<LoadFigures> {
    const host = target.baseUrl.hostname;
    const port = portOf(target);
    const connectHost = target.connectTo?.includes(":") ? `[${target.connectTo}]` : (target.connectTo ?? host);
    const latenciesMs: number[] = [];
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const instance = autocannon({
            url: `https://${connectHost}:${port}${settings.loadPath}`,
            headers: { host: target.baseUrl.host, "user-agent": "pakashop-verify" },
            servername: host,
            connections: settings.connections,
            // With `amount` set autocannon ignores `duration` (its README), so the timer below
            // bounds the time and `amount` the count.
            amount: settings.maxRequests,
            timeout: settings.requestTimeoutSeconds,
        }, (error, result) => {
            clearTimeout(timer);
            if (error) return reject(error);
            // result.errors counts connection errors and timeouts together (autocannon README:
            // "errors: The number of connection errors (including timeouts)").
            resolve({
                requests: latenciesMs.length + result.errors,
                non2xx: result.non2xx,
                errors: result.errors,
                timeouts: result.timeouts,
                latenciesMs,
                seconds: (Date.now() - started) / 1000,
            });
        });
        instance.on("response", (_client, _status, _bytes, responseTime) => latenciesMs.push(responseTime));
        const timer = setTimeout(() => instance.stop(), settings.durationSeconds * 1000);
    });
}
