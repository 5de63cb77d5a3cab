/**
 * The staging verification (npm run verify) for real, against the end-to-end test host: one
 * backend host deployed by the program (staging's shape), behind the stand-in load balancer,
 * reached from Cloudflare's address on the test network's public side with the stack file's
 * frontend host name as TLS name and Host header, as Cloudflare's origin rule sends it. The
 * thresholds are the stack file's `verification` setting, bounded for the test (at most 3000
 * requests and 20 s a run, 4 connections). Then the gateway is made slow, then stopped, and the
 * verdict must refuse, naming the threshold that failed. Needs root.
 */
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CATALOG } from "../../components/catalog";
import { VerificationSettings } from "../../components/verificationSettings";
import type { VerificationReport } from "../../tools/verify";
import { httpGet } from "./hostProbes";
import { connectFromCloudflare, sleep, waitUntilServing } from "./load";
import { prepareStage, Stage } from "./stage";
import { PUBLIC } from "./testNetwork";

const STAGE = "verify";
const SEGMENT_INDEX = 36;
const ROOT = path.resolve(__dirname, "..", "..");
const GATEWAY = "pakashop-gateway.service";
const GATEWAY_PORT = CATALOG.services.gateway.port;

/** The thresholds the stage's stack file gets: staging's, with the run bounded for a test. */
const THRESHOLDS: Partial<VerificationSettings> = {
    connections: 4, durationSeconds: 20, maxRequests: 3000, minRequests: 500, maxErrorRate: 0.01, maxP95LatencyMs: 150, requestTimeoutSeconds: 5,
};

interface Run { readonly status: number | null; readonly stdout: string; readonly report: VerificationReport }

describe("staging verification against the test host (e2e)", function () {
    this.timeout(30 * 60_000);
    let stage: Stage;

    before(async () => {
        stage = await prepareStage(STAGE, SEGMENT_INDEX, { backendHosts: 1, healthTimeoutSeconds: 20 });
        await stage.deploy(stage.repo.commits.v1);
        const file = path.join(stage.projectDir, "Pulumi.staging.yaml");
        const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
        doc.setIn(["config", "pakashop-infra:verification"], doc.createNode({ ...(doc.getIn(["config", "pakashop-infra:verification"]) as YAML.YAMLMap).toJSON(), ...THRESHOLDS }));
        fs.writeFileSync(file, doc.toString());
        connectFromCloudflare(stage);
    });

    after(async () => {
        await stage?.teardown();
    });

    /** npm run verify from the public side, against the load balancer's public address. */
    async function verify(): Promise<Run> {
        const out = path.join(stage.projectDir, "verification.json");
        fs.rmSync(out, { force: true });
        const child = spawn("ip", ["netns", "exec", stage.publicNetns, process.execPath, "--require", path.join(ROOT, "tools", "register.js"), path.join(ROOT, "tools", "verify.ts"),
            "--project-dir", stage.projectDir, "--stack", "staging", "--connect-to", PUBLIC.loadBalancerAddress, "--ca-file", stage.originCertificateFile, "--out", out], { cwd: ROOT });
        let stdout = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d));
        child.stderr.on("data", (d: Buffer) => (stdout += d));
        const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
        assert.ok(fs.existsSync(out), `no report: ${stdout}`);
        const report = JSON.parse(fs.readFileSync(out, "utf8")) as VerificationReport;
        console.log(`      ${stdout.trim().split("\n").join("\n      ")}`);
        return { status, stdout, report };
    }

    /** Runs `command` on the host (it must succeed), then waits until the load balancer serves the gateway again. */
    async function gateway(command: string): Promise<void> {
        const result = await stage.host.ssh(command);
        assert.equal(result.code, 0, `${command}: ${result.stderr}`);
        const deadline = Date.now() + 60_000;
        while ((await httpGet(stage.host, GATEWAY_PORT, "/api/v1/health")).status !== 200) {
            if (Date.now() > deadline) throw new Error("the gateway did not answer again within 60 s");
            await sleep(250);
        }
        await waitUntilServing(stage, "h1", 60_000);
    }

    /**
     * Runs `action` with the gateway's unit given `environment` (the fixture service's fault
     * switches, tests/e2e/fixture/node/server.js) through a runtime drop-in, removed afterwards.
     */
    async function withGatewayEnvironment<T>(environment: string, action: () => Promise<T>): Promise<T> {
        const dropIn = `/run/systemd/system/${GATEWAY}.d/fault.conf`;
        await gateway(`mkdir -p ${path.posix.dirname(dropIn)} && printf '[Service]\\nEnvironment=${environment}\\n' > ${dropIn} && systemctl daemon-reload && systemctl restart ${GATEWAY}`);
        try {
            return await action();
        } finally {
            await gateway(`rm -f ${dropIn} && systemctl daemon-reload && systemctl restart ${GATEWAY}`);
        }
    }

    const smokeOf = (r: VerificationReport) => r.smoke.map((s) => `${s.path} ${s.status ?? s.error}`);

    it("passes the deployed host: the seed's health URLs answer 200 through the load balancer, and the load stays within every threshold", async () => {
        const run = await verify();
        assert.equal(run.status, 0, run.stdout);
        assert.equal(run.report.baseUrl, "https://staging.pakashop.store");
        assert.deepEqual(smokeOf(run.report), ["/api/v1/health 200", "/api/v1/health/ready 200"]);
        const load = run.report.load!;
        assert.equal(load.requests, 3000, "stopped at maxRequests");
        assert.ok(load.seconds <= 21, `ran ${load.seconds} s`);
        assert.equal(load.non2xx + load.errors, 0);
        assert.deepEqual(load.checks.map((c) => [c.setting, c.pass]), [["minRequests", true], ["maxErrorRate", true], ["maxP95LatencyMs", true]]);
        assert.deepEqual(run.report.failures, []);
    });

    it("refuses a slow gateway (1 answer in 10 takes 400 ms): every request answered, the 95th percentile above 150 ms", async () => {
        const run = await withGatewayEnvironment("FIXTURE_SLOW_EVERY=10 FIXTURE_SLOW_MS=400", verify);
        assert.equal(run.status, 1, run.stdout);
        assert.deepEqual(smokeOf(run.report), ["/api/v1/health 200", "/api/v1/health/ready 200"], "slow, not failing: the smoke check passes");
        const load = run.report.load!;
        assert.equal(load.non2xx + load.errors, 0, "no request failed");
        assert.ok(load.p95LatencyMs! > 150, String(load.p95LatencyMs));
        assert.equal(run.report.failures.length, 1, run.report.failures.join("\n"));
        assert.match(run.report.failures[0], /^load maxP95LatencyMs: \d+\.\d is not <= 150$/);
        assert.match(run.stdout, /\nverdict: fail \(load maxP95LatencyMs: \d+\.\d is not <= 150\)\n/);
    });

    it("refuses a gateway that fails 1 answer in 20 (HTTP 503): the smoke check passes, the error rate (about 5%) is above 1%", async () => {
        const run = await withGatewayEnvironment("FIXTURE_FAIL_EVERY=20", verify);
        assert.equal(run.status, 1, run.stdout);
        assert.deepEqual(smokeOf(run.report).map((s) => s.split(" ")[0]), ["/api/v1/health", "/api/v1/health/ready"]);
        assert.ok(run.report.smoke.every((s) => s.pass), "every smoke path answered 200 within its attempts");
        const load = run.report.load!;
        assert.equal(load.requests, 3000);
        assert.equal(load.errors, 0, "answered, with 503");
        assert.ok(load.errorRate! > 0.03 && load.errorRate! < 0.07, String(load.errorRate));
        assert.equal(run.report.failures.length, 1, run.report.failures.join("\n"));
        assert.match(run.report.failures[0], /^load maxErrorRate: 0\.0[3-6]\d\d is not <= 0\.01$/);
    });

    it("refuses a failing gateway (stopped): the smoke check gets errors, and no load is sent; once it runs again the verdict passes", async () => {
        const stopped = await stage.host.ssh(`systemctl stop ${GATEWAY}`);
        assert.equal(stopped.code, 0, stopped.stderr);
        let failed: Run;
        try {
            failed = await verify();
        } finally {
            await gateway(`systemctl start ${GATEWAY}`);
        }
        assert.equal(failed.status, 1, failed.stdout);
        assert.equal(failed.report.load, null);
        assert.match(failed.report.failures[0], /^smoke \/api\/v1\/health: HTTP 50[23] after 3 attempt\(s\)$/);
        assert.equal(failed.report.failures.at(-1), "load: not run, the smoke check failed");
        const again = await verify();
        assert.equal(again.status, 0, again.stdout);
    });
});
