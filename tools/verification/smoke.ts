/**
 * The smoke check: each of the stack's smoke paths, over HTTPS with the certificate verified,
 * must answer 2xx. A path gets a few attempts (a deploy has just ended and Cloudflare may still
 * hold a connection to an old target), but a run passes only when every path answered 2xx.
 */
import * as https from "https";
import { requestOptions, Target, urlOf } from "./target";

export interface SmokeResult {
    readonly path: string;
    readonly url: string;
    /** The last attempt's HTTP status, when it got an answer. */
    readonly status?: number;
    /** The last attempt's error (connection, TLS, timeout), when it got none. */
    readonly error?: string;
    readonly attempts: number;
    readonly pass: boolean;
}

export interface SmokeOptions {
    readonly timeoutSeconds: number;
    /** Attempts per path. @default 3 */
    readonly attempts?: number;
    /** Pause between attempts. @default 2000 */
    readonly pauseMs?: number;
}

/** One GET; resolves with the status or the error, never rejects. */
function get(target: Target, path: string, timeoutMs: number): Promise<{ status?: number; error?: string }> {
    return new Promise((resolve) => {
        const request = https.request(requestOptions(target, path, timeoutMs), (response) => {
            response.resume(); // the body is not needed; drain it so the socket closes
            response.on("end", () => resolve({ status: response.statusCode }));
            response.on("error", (error) => resolve({ error: error.message }));
        });
        request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
        request.on("error", (error) => resolve({ error: error.message }));
        request.end();
    });
}

export async function smokeCheck(target: Target, paths: readonly string[], options: SmokeOptions): Promise<SmokeResult[]> {
    const attempts = options.attempts ?? 3;
    const results: SmokeResult[] = [];
    for (const path of paths) {
        let last: { status?: number; error?: string } = {};
        let attempt = 0;
        while (attempt < attempts) {
            attempt++;
            last = await get(target, path, options.timeoutSeconds * 1000);
            if (last.status !== undefined && last.status >= 200 && last.status < 300) break;
            if (attempt < attempts) await new Promise((r) => setTimeout(r, options.pauseMs ?? 2000));
        }
        const pass = last.status !== undefined && last.status >= 200 && last.status < 300;
        results.push({ path, url: urlOf(target, path), ...last, attempts: attempt, pass });
    }
    return results;
}
