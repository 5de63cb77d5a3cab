/**
 * The staging verification's decision, for real: the thresholds on exact numbers, the
 * `verification` setting's refusals, and `npm run verify` as a command against HTTPS servers on
 * loopback (fast, slow, failing, untrusted), bounded in requests and time. The same tool against
 * the end-to-end test host, through the stand-in load balancer: tests/e2e/verification.e2e.ts.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { SettingError } from "../components/errors";
import { parseSettings } from "../components/settingsSchema";
import { VERIFICATION_DEFAULTS, VerificationSettings } from "../components/verificationSettings";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import { errorRate, evaluateLoad, LoadFigures, percentile } from "../tools/verification/thresholds";
import { configSource, exec } from "./helpers";
import { runToolProcess } from "./support/toolProcess";

const KEY = "pakashop-infra:verification";
const figures = (over: Partial<LoadFigures>): LoadFigures => ({ requests: 0, non2xx: 0, errors: 0, timeouts: 0, latenciesMs: [], seconds: 1, ...over });
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("Staging verification: thresholds (tools/verification/thresholds.ts)", () => {
    it("takes the 95th percentile by nearest rank, over every answered request", () => {
        assert.equal(percentile(range(100), 95), 95);
        assert.equal(percentile(range(100).reverse(), 95), 95, "order does not matter");
        assert.equal(percentile(range(20), 95), 19);
        assert.equal(percentile(range(21), 95), 20, "ceil(0.95 * 21) = 20th value");
        assert.equal(percentile([7], 95), 7);
        assert.equal(percentile([], 95), undefined);
    });

    it("counts non-2xx answers and connection errors (timeouts included) as failed requests", () => {
        assert.equal(errorRate(figures({ requests: 200, non2xx: 1, errors: 1, timeouts: 1 })), 0.01, "a timeout is one of the errors, not counted twice");
        assert.equal(errorRate(figures({ requests: 0 })), undefined);
    });

    it("passes at a limit and fails just past it, and fails a run with nothing to measure", () => {
        const limits = { minRequests: 100, maxErrorRate: 0.01, maxP95LatencyMs: 95 };
        const at = evaluateLoad(figures({ requests: 100, non2xx: 1, latenciesMs: range(100) }), limits);
        assert.deepEqual(at.map((c) => [c.setting, c.actual, c.pass]), [["minRequests", 100, true], ["maxErrorRate", 0.01, true], ["maxP95LatencyMs", 95, true]]);
        const past = evaluateLoad(figures({ requests: 99, non2xx: 2, latenciesMs: range(99).map((x) => x + 1) }), limits);
        assert.deepEqual(past.map((c) => [c.setting, c.pass]), [["minRequests", false], ["maxErrorRate", false], ["maxP95LatencyMs", false]]);
        const none = evaluateLoad(figures({}), { minRequests: 1, maxErrorRate: 0.5, maxP95LatencyMs: 60000 });
        assert.deepEqual(none.map((c) => [c.setting, c.actual, c.pass]), [["minRequests", 0, false], ["maxErrorRate", undefined, false], ["maxP95LatencyMs", undefined, false]]);
        const allErrors = evaluateLoad(figures({ requests: 500, errors: 500, timeouts: 500 }), { minRequests: 1, maxErrorRate: 0.5, maxP95LatencyMs: 60000 });
        assert.deepEqual(allErrors.map((c) => c.pass), [true, false, false], "no answer at all has no latency to pass");
    });
});

describe("Staging verification: the verification setting", () => {
    const parse = (value: unknown, stack = "staging") =>
        parseSettings(configSource(loadStackConfig(stack, { [KEY]: value })), stack, { keys: ["verification"] }).verification as VerificationSettings;
    const refusal = (value: unknown): SettingError => {
        try {
            parse(value);
        } catch (error) {
            assert.ok(error instanceof SettingError, String(error));
            return error;
        }
        assert.fail(`accepted ${JSON.stringify(value)}`);
    };

    it("staging's file holds the thresholds, and a stack file may set any subset over the defaults", () => {
        const committed = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.staging.yaml"), "utf8")).config[KEY];
        assert.deepEqual(parseSettings(configSource(loadStackConfig("staging")), "staging", { keys: ["verification"] }).verification, { ...VERIFICATION_DEFAULTS, ...committed });
        assert.deepEqual(parse({ maxP95LatencyMs: 300 }), { ...VERIFICATION_DEFAULTS, maxP95LatencyMs: 300 });
        assert.deepEqual(parseSettings(configSource(loadStackConfig("production")), "production", { keys: ["verification"] }).verification, VERIFICATION_DEFAULTS);
    });

    // Each refusal names the setting's path, the value and why; a gate with any of these values
    // could not fail, could not pass, or would ask another host.
    const REFUSED: [unknown, string, RegExp][] = [
        [{ maxErrorRate: 1 }, `${KEY}.maxErrorRate`, /must be from 0 to 0\.5 \(a fraction \(0\.01 is 1%\); 1 would let a run where every request failed pass\)/],
        [{ maxErrorRate: "0.01" }, `${KEY}.maxErrorRate`, /must be a number, written without quotes/],
        [{ maxErrorRate: -0.01 }, `${KEY}.maxErrorRate`, /must be from 0 to 0\.5/],
        [{ connections: 2.5 }, `${KEY}.connections`, /must be a whole number/],
        [{ durationSeconds: 3600 }, `${KEY}.durationSeconds`, /must be from 5 to 600/],
        [{ minRequests: 40000 }, `${KEY}.minRequests`, /is above maxRequests \(30000\), so no run could pass/],
        [{ maxP95LatencyMs: 10000 }, `${KEY}.maxP95LatencyMs`, /is not below the request timeout \(10 s\)/],
        [{ smokePaths: [] }, `${KEY}.smokePaths`, /must list 1 to 10 paths/],
        [{ smokePaths: ["//evil.example/api"] }, `${KEY}.smokePaths.0`, /must be an absolute path of the stack's host/],
        [{ smokePaths: ["/api/../admin"] }, `${KEY}.smokePaths.0`, /no '\.\.'/],
        [{ smokePaths: ["/api/v1/health", "https://evil.example/"] }, `${KEY}.smokePaths.1`, /must be an absolute path/],
        [{ loadPath: "/api/v1/health?x=1 2" }, `${KEY}.loadPath`, /must be an absolute path/],
        [{ loadPath: "api/v1/health" }, `${KEY}.loadPath`, /must be an absolute path/],
        [{ maxErrorRatee: 0.01 }, `${KEY}.maxErrorRatee`, /is not a verification field/],
        [JSON.parse('{"__proto__": {"maxErrorRate": 1}}'), `${KEY}.__proto__`, /is not a verification field/],
        [["/api/v1/health"], KEY, /must be a map of verification fields/],
    ];
    for (const [value, setting, why] of REFUSED) {
        it(`refuses ${JSON.stringify(value)}`, () => {
            const error = refusal(value);
            assert.equal(error.setting, setting);
            assert.match(error.rule, why);
            assert.ok(error.fix.length > 0);
        });
    }

    it("a bad threshold stops npm run verify with the setting named, exit code 1 and no stack trace", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-verify-plan-"));
        try {
            for (const file of ["Pulumi.yaml", "Pulumi.staging.yaml"]) fs.copyFileSync(path.join(REPO_ROOT, file), path.join(dir, file));
            const text = fs.readFileSync(path.join(dir, "Pulumi.staging.yaml"), "utf8").replace("maxErrorRate: 0.01", "maxErrorRate: 1");
            fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), text);
            let output = "";
            try {
                execFileSync(process.execPath, ["--require", "./tools/register.js", "tools/verify.ts", "--project-dir", dir, "--stack", "staging"], { cwd: REPO_ROOT, encoding: "utf8", stdio: "pipe" });
                assert.fail("accepted");
            } catch (error) {
                const e = error as { status: number; stderr: string };
                assert.equal(e.status, 1);
                output = e.stderr;
            }
            assert.match(output, /pakashop-infra:verification\.maxErrorRate/);
            assert.match(output, /\b1\b/);
            assert.doesNotMatch(output, /\n\s+at /, "no stack trace");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

// ---------------------------------------------------------------------------------------------
// npm run verify against real HTTPS servers on loopback
// ---------------------------------------------------------------------------------------------

const HOST = "staging.pakashop.store";

interface Behaviour {
    /** Milliseconds before answering the load path. */
    readonly delayMs?: number;
    /** Every n-th request of the load path answers 503. */
    readonly failEvery?: number;
    /** Paths that always answer 503. */
    readonly broken?: readonly string[];
}

interface TestServer { readonly port: number; readonly hits: () => number; close(): Promise<void> }

function startServer(tlsFiles: { key: string; cert: string }, behaviour: Behaviour): Promise<TestServer> {
    let hits = 0;
    const server = https.createServer({ key: fs.readFileSync(tlsFiles.key), cert: fs.readFileSync(tlsFiles.cert) }, (request, response) => {
        const answer = (status: number) => {
            response.writeHead(status, { "content-type": "application/json" });
            response.end(JSON.stringify({ status: status === 200 ? "ok" : "unavailable" }));
        };
        if (request.headers.host?.split(":")[0] !== HOST) return answer(421);
        if (behaviour.broken?.includes(request.url ?? "")) return answer(503);
        if (request.url !== VERIFICATION_DEFAULTS.loadPath) return answer(request.url?.startsWith("/api/v1/health") ? 200 : 404);
        hits++;
        const status = behaviour.failEvery && hits % behaviour.failEvery === 0 ? 503 : 200;
        if (behaviour.delayMs) setTimeout(() => answer(status), behaviour.delayMs);
        else answer(status);
    });
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
        port: (server.address() as AddressInfo).port,
        hits: () => hits,
        close: () => new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
        }),
    })));
}

interface VerifyRun { status: number | null; stdout: string; stderr: string; report: Record<string, any> | undefined } // eslint-disable-line @typescript-eslint/no-explicit-any

describe("Staging verification: npm run verify against HTTPS servers on loopback", function () {
    this.timeout(120_000);
    let dir: string;
    let tlsFiles: { key: string; cert: string; ca: string };

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-verify-"));
        fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        tlsFiles = { key: path.join(dir, "key.pem"), cert: path.join(dir, "cert.pem"), ca: path.join(dir, "cert.pem") };
        const made = exec("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", tlsFiles.key, "-out", tlsFiles.cert,
            "-days", "2", "-subj", `/CN=${HOST}`, "-addext", `subjectAltName=DNS:${HOST}`]);
        assert.equal(made.status, 0, made.output);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Writes a test stack whose verification is `settings`, and runs the tool against `port`. */
    async function verify(stack: string, settings: Partial<VerificationSettings>, port: number, extra: string[] = ["--ca-file", tlsFiles.ca]): Promise<VerifyRun> {
        fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), YAML.stringify({ config: { "pakashop-infra:frontendHostname": HOST, [KEY]: settings } }));
        const out = path.join(dir, `${stack}.json`);
        fs.rmSync(out, { force: true });
        const run = await runToolProcess("tools/verify.ts", ["--project-dir", dir, "--stack", stack,
            "--base-url", `https://${HOST}:${port}`, "--connect-to", "127.0.0.1", "--out", out, ...extra], {});
        return { status: run.code, stdout: run.stdout, stderr: run.stderr, report: fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, "utf8")) : undefined };
    }

    const quick: Partial<VerificationSettings> = { connections: 4, durationSeconds: 20, maxRequests: 400, minRequests: 400, maxErrorRate: 0.01, maxP95LatencyMs: 200, requestTimeoutSeconds: 5 };

    it("passes a fast, healthy host, stopping at maxRequests exactly", async () => {
        const server = await startServer(tlsFiles, {});
        try {
            const run = await verify("test-pass", quick, server.port);
            assert.equal(run.status, 0, run.stdout + run.stderr);
            assert.match(run.stdout, /\nverdict: pass\n$/);
            assert.deepEqual(run.report?.smoke.map((s: { path: string; status: number; pass: boolean }) => [s.path, s.status, s.pass]), [["/api/v1/health", 200, true], ["/api/v1/health/ready", 200, true]]);
            assert.equal(run.report?.load.requests, 400);
            assert.equal(server.hits(), 400 + 1, "400 load requests and the smoke check's one");
            assert.deepEqual(run.report?.load.checks.map((c: { pass: boolean }) => c.pass), [true, true, true]);
            assert.deepEqual(run.report?.failures, []);
        } finally {
            await server.close();
        }
    });

    it("stops at durationSeconds when maxRequests is out of reach", async () => {
        const server = await startServer(tlsFiles, { delayMs: 50 });
        try {
            const run = await verify("test-time", { ...quick, connections: 2, durationSeconds: 5, maxRequests: 1_000_000, minRequests: 1 }, server.port);
            assert.equal(run.status, 0, run.stdout + run.stderr);
            const seconds = run.report?.load.seconds as number;
            assert.ok(seconds >= 5 && seconds < 6.5, `ran ${seconds} s`);
            assert.ok(run.report?.load.requests < 2 * (6.5 * 1000) / 50, `${run.report?.load.requests} requests`);
        } finally {
            await server.close();
        }
    });

    it("refuses a slow host on maxP95LatencyMs, naming the figure and the limit", async () => {
        const server = await startServer(tlsFiles, { delayMs: 120 });
        try {
            const run = await verify("test-slow", { ...quick, maxRequests: 120, minRequests: 100, maxP95LatencyMs: 80 }, server.port);
            assert.equal(run.status, 1, run.stdout + run.stderr);
            assert.equal(run.report?.verdict, "fail");
            assert.equal(run.report?.failures.length, 1, run.report?.failures.join("\n"));
            assert.match(run.report?.failures[0], /^load maxP95LatencyMs: 1[2-9][0-9]\.[0-9] is not <= 80$/);
            assert.ok(run.report?.load.p95LatencyMs >= 120);
            assert.match(run.stdout, /maxP95LatencyMs\s+<= 80\s+1[2-9][0-9]\.[0-9]\s+FAIL/);
        } finally {
            await server.close();
        }
    });

    it("refuses a host that fails 1 request in 20 on maxErrorRate (5% > 1%)", async () => {
        const server = await startServer(tlsFiles, { failEvery: 20 });
        try {
            const run = await verify("test-errors", quick, server.port);
            assert.equal(run.status, 1, run.stdout + run.stderr);
            assert.equal(run.report?.load.requests, 400);
            assert.equal(run.report?.load.non2xx, 20);
            assert.equal(run.report?.load.errorRate, 0.05);
            assert.deepEqual(run.report?.failures, ["load maxErrorRate: 0.0500 is not <= 0.01"]);
        } finally {
            await server.close();
        }
    });

    it("refuses when a smoke path fails, and then sends no load", async () => {
        const server = await startServer(tlsFiles, { broken: ["/api/v1/health/ready"] });
        try {
            const run = await verify("test-smoke", quick, server.port);
            assert.equal(run.status, 1, run.stdout + run.stderr);
            assert.deepEqual(run.report?.failures, ["smoke /api/v1/health/ready: HTTP 503 after 3 attempt(s)", "load: not run, the smoke check failed"]);
            assert.equal(run.report?.load, null);
            assert.equal(server.hits(), 1, "only the smoke check's request of the load path");
        } finally {
            await server.close();
        }
    });

    it("--smoke-only checks the smoke paths and sends no load; a failing path still fails it", async () => {
        const server = await startServer(tlsFiles, {});
        try {
            const run = await verify("test-smoke-only", quick, server.port, ["--ca-file", tlsFiles.ca, "--smoke-only"]);
            assert.equal(run.status, 0, run.stdout + run.stderr);
            assert.equal(run.report?.load, null);
            assert.deepEqual(run.report?.failures, []);
            assert.equal(server.hits(), 1, "the smoke check's request of the load path only");
            assert.match(run.stdout, /\nload   not run\nverdict: pass\n$/);
        } finally {
            await server.close();
        }
        const broken = await startServer(tlsFiles, { broken: ["/api/v1/health"] });
        try {
            const run = await verify("test-smoke-only-broken", quick, broken.port, ["--ca-file", tlsFiles.ca, "--smoke-only"]);
            assert.equal(run.status, 1, run.stdout + run.stderr);
            assert.deepEqual(run.report?.failures, ["smoke /api/v1/health: HTTP 503 after 3 attempt(s)"]);
        } finally {
            await broken.close();
        }
    });

    it("verifies the certificate: an untrusted one, or one for another host, fails the smoke check", async () => {
        const server = await startServer(tlsFiles, {});
        try {
            const untrusted = await verify("test-untrusted", quick, server.port, []);
            assert.equal(untrusted.status, 1);
            assert.match(untrusted.report?.failures[0], /^smoke \/api\/v1\/health: self-signed certificate after 3 attempt\(s\)$/);
            assert.equal(server.hits(), 0);
            const otherHost = await verify("test-other-host", quick, server.port, ["--ca-file", tlsFiles.ca, "--base-url", `https://api.pakashop.store:${server.port}`]);
            assert.equal(otherHost.status, 1);
            assert.match(otherHost.report?.failures[0], /^smoke \/api\/v1\/health: Hostname\/IP does not match certificate's altnames: Host: api\.pakashop\.store\. is not in the cert's altnames: DNS:staging\.pakashop\.store after 3 attempt\(s\)$/);
            assert.equal(server.hits(), 0);
        } finally {
            await server.close();
        }
    });

    it("--help prints the usage and exits 0", () => {
        const out = execFileSync(process.execPath, ["--require", "./tools/register.js", "tools/verify.ts", "--help"], { cwd: REPO_ROOT, encoding: "utf8" });
        assert.match(out, /^usage: npm run -s verify -- --stack <stack> \[--smoke-only\]/);
    });

    it("refuses a bad command line with exit code 2 and the fix", async () => {
        for (const [args, message] of [
            [["--base-url", "https://x.example/api"], /--base-url https:\/\/x\.example\/api must be the host only/],
            [["--base-url", "https://user:pw@x.example"], /must not hold credentials/],
            [["--connect-to", "localhost"], /--connect-to localhost is not an IP address/],
            [["--stack", "nope"], /--stack nope: no stack file Pulumi\.nope\.yaml/],
            [["--smoke-only=yes"], /--smoke-only takes no value/],
        ] as [string[], RegExp][]) {
            const run = await runToolProcess("tools/verify.ts", ["--stack", "staging", ...args], {});
            assert.equal(run.code, 2, run.stderr);
            assert.match(run.stderr, message);
        }
    });
});
