/**
 * `npm run -s verify -- --stack <stack> [--smoke-only] [--base-url https://<host>] [--connect-to <ip>] [--ca-file <pem>] [--out <file.json>]`
 *
 * The verification run after a deploy (Deploy staging runs it for every staging deploy; its
 * verdict gates the promotion to production: docs/runbook.md, section 1). With the stack's
 * `verification` setting:
 *   1. smoke: every `smokePaths` entry on the stack's public host must answer 2xx (certificate
 *      verified);
 *   2. load: autocannon on `loadPath` (bounded by `durationSeconds` and `maxRequests`), judged
 *      against `minRequests`, `maxErrorRate` and `maxP95LatencyMs` (tools/verification/).
 * The load test runs only when the smoke check passed; `--smoke-only` skips it (to check
 * production by hand after an emergency bypass without loading it: docs/runbook.md, section 12).
 *
 * The public host is `https://<frontendHostname>` (the seed's health URLs go through Cloudflare
 * and its origin rule to the stack's load balancer); `--base-url` names another. `--connect-to`
 * connects to that address instead of the host's DNS answer (the URL's host stays the TLS name
 * and Host header); `--ca-file` trusts one more CA. Both exist for the end-to-end test and for
 * checking one origin directly.
 *
 * Prints each check with its figure and limit, then `verdict: pass` or `verdict: fail (...)`;
 * `--out` also writes the report as JSON. `--project-dir` reads the stack file of another copy of
 * this project (tests, the e2e). Exit codes: 0 pass, 1 fail (or a bad setting: the
 * message names it), 2 bad command line.
 */
import "./fastStart"; // first: caches the compilation of everything imported after it
import * as fs from "fs";
import { parseSettings } from "../components/settingsSchema";
import { VerificationSettings } from "../components/verificationSettings";
import { parseFlags, runAsScript, runTool, UsageError } from "./cli";
import { configSource } from "./configSource";
import { listStacks, loadStackConfig, REPO_ROOT } from "./stackConfig";
import { runLoad } from "./verification/loadTest";
import { smokeCheck, SmokeResult } from "./verification/smoke";
import { isIpAddress, parseBaseUrl, Target } from "./verification/target";
import { errorRate, evaluateLoad, LoadFigures, percentile, ThresholdCheck } from "./verification/thresholds";

const USAGE = "usage: npm run -s verify -- --stack <stack> [--smoke-only] [--base-url https://<host>] [--connect-to <ip>] [--ca-file <pem>] [--out <file.json>] [--project-dir <dir>]";

interface Args {
    readonly stack: string;
    readonly baseUrl?: URL;
    readonly connectTo?: string;
    readonly caFile?: string;
    readonly out?: string;
    readonly projectDir: string;
    readonly smokeOnly: boolean;
}

function parse(argv: string[]): Args {
    const flags = parseFlags(argv, { "--stack": "stack", "-s": "stack", "--base-url": "baseUrl", "--connect-to": "connectTo", "--ca-file": "caFile", "--out": "out", "--project-dir": "projectDir" },
        { switches: { "--smoke-only": "smokeOnly" } });
    const smokeOnly = flags.smokeOnly === "true";
    const projectDir = flags.projectDir ?? REPO_ROOT;
    if (!flags.stack) throw new UsageError("--stack is required");
    if (!listStacks(projectDir).includes(flags.stack)) throw new UsageError(`--stack ${flags.stack}: no stack file Pulumi.${flags.stack}.yaml (stacks: ${listStacks(projectDir).join(", ")})`);
    let baseUrl: URL | undefined;
    if (flags.baseUrl !== undefined) {
        const parsed = parseBaseUrl(flags.baseUrl);
        if (typeof parsed === "string") throw new UsageError(`--base-url ${flags.baseUrl} ${parsed}; give e.g. https://staging.pakashop.store`);
        baseUrl = parsed;
    }
    if (flags.connectTo !== undefined && !isIpAddress(flags.connectTo)) throw new UsageError(`--connect-to ${flags.connectTo} is not an IP address; give e.g. 203.0.113.10`);
    return { stack: flags.stack, baseUrl, connectTo: flags.connectTo, caFile: flags.caFile, out: flags.out, projectDir, smokeOnly };
}

/** The verification report (`--out`). */
export interface VerificationReport {
    readonly stack: string;
    readonly baseUrl: string;
    readonly verdict: "pass" | "fail";
    /** Why the run failed, one line per failed check (empty when it passed). */
    readonly failures: string[];
    readonly smoke: SmokeResult[];
    /** Null when the load test did not run (the smoke check failed, or --smoke-only). */
    readonly load: null | { readonly path: string; readonly connections: number; readonly requests: number; readonly non2xx: number; readonly errors: number; readonly timeouts: number; readonly seconds: number; readonly errorRate?: number; readonly p95LatencyMs?: number; readonly checks: ThresholdCheck[] };
}

const RELATION: Record<ThresholdCheck["setting"], string> = { minRequests: ">=", maxErrorRate: "<=", maxP95LatencyMs: "<=" };
const shown = (check: ThresholdCheck) => (check.actual === undefined ? "none" : check.setting === "maxErrorRate" ? check.actual.toFixed(4) : check.setting === "maxP95LatencyMs" ? check.actual.toFixed(1) : String(check.actual));

function report(stack: string, target: Target, settings: VerificationSettings, smoke: SmokeResult[], figures: LoadFigures | undefined, smokeOnly: boolean): VerificationReport {
    const failures = smoke.filter((s) => !s.pass).map((s) => `smoke ${s.path}: ${s.status !== undefined ? `HTTP ${s.status}` : s.error} after ${s.attempts} attempt(s)`);
    let load: VerificationReport["load"] = null;
    if (figures) {
        const checks = evaluateLoad(figures, settings);
        for (const c of checks.filter((c) => !c.pass)) failures.push(`load ${c.setting}: ${shown(c)} is not ${RELATION[c.setting]} ${c.limit}`);
        load = {
            path: settings.loadPath, connections: settings.connections, requests: figures.requests, non2xx: figures.non2xx, errors: figures.errors, timeouts: figures.timeouts,
            seconds: Number(figures.seconds.toFixed(2)), errorRate: errorRate(figures), p95LatencyMs: percentile(figures.latenciesMs, 95), checks,
        };
    } else if (!smokeOnly) {
        failures.push("load: not run, the smoke check failed");
    }
    return { stack, baseUrl: target.baseUrl.origin, verdict: failures.length === 0 ? "pass" : "fail", failures, smoke, load };
}

function print(r: VerificationReport): void {
    const lines = [`verification of stack ${r.stack} at ${r.baseUrl}`];
    for (const s of r.smoke) lines.push(`smoke  GET ${s.path}  ${s.status ?? s.error}  ${s.pass ? "pass" : "FAIL"}`);
    if (r.load) {
        const l = r.load;
        lines.push(`load   GET ${l.path}  ${l.connections} connections, ${l.seconds} s: ${l.requests} requests, ${l.non2xx + l.errors} failed (${l.non2xx} non-2xx, ${l.errors} errors of which ${l.timeouts} timeouts)`);
        for (const c of l.checks) lines.push(`  ${c.setting.padEnd(16)} ${RELATION[c.setting]} ${String(c.limit).padEnd(8)} ${shown(c).padEnd(10)} ${c.pass ? "pass" : "FAIL"}`);
    }
    if (!r.load) lines.push("load   not run");
    lines.push(r.verdict === "pass" ? "verdict: pass" : `verdict: fail (${r.failures.join("; ")})`);
    process.stdout.write(`${lines.join("\n")}\n`);
}

export async function main(argv: string[]): Promise<number> {
    if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h")) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    return runTool(argv, USAGE, parse, async (args) => {
        const source = configSource(loadStackConfig(args.stack, {}, args.projectDir));
        const v = parseSettings(source, args.stack, { keys: ["verification", "frontendHostname"] });
        const settings = v.verification as VerificationSettings;
        let caPem: string | undefined;
        if (args.caFile !== undefined) {
            try {
                caPem = fs.readFileSync(args.caFile, "utf8");
            } catch (error) {
                throw new Error(`--ca-file ${args.caFile} can't be read (${(error as NodeJS.ErrnoException).code}); give a PEM file`);
            }
        }
        const target: Target = { baseUrl: args.baseUrl ?? new URL(`https://${v.frontendHostname}`), connectTo: args.connectTo, caPem };
        const smoke = await smokeCheck(target, settings.smokePaths, { timeoutSeconds: settings.requestTimeoutSeconds });
        const figures = smoke.every((s) => s.pass) && !args.smokeOnly ? await runLoad(target, settings) : undefined;
        const result = report(args.stack, target, settings, smoke, figures, args.smokeOnly);
        print(result);
        if (args.out) fs.writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
        return result.verdict === "pass" ? 0 : 1;
    });
}

runAsScript(module, main);
