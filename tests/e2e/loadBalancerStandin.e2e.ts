/**
 * The load balancer stand-in itself, against AWS's documented target group behaviour, before the
 * fleet test relies on it: HAProxy on loopback addresses of this machine, configured from an
 * offline run of the staging stack (the program's own target group, listener and certificate),
 * two HTTPS targets that count the requests they get, and the AWS CLI stand-in making exactly
 * the calls the drain and return steps make. Needs root (port 443) and haproxy.
 */
import { strict as assert } from "assert";
import { execFile, execFileSync, spawnSync } from "child_process";
import { promisify } from "util";
import * as fs from "fs";
import * as https from "https";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { runOffline, unwrapSecrets } from "../../tools/offlineRun";
import { loadStackConfig } from "../../tools/stackConfig";
import { installConsoleStandin } from "./consoleStandin";
import { LoadBalancerStandin, startLoadBalancerStandin } from "./loadBalancerStandin";
import { sleep } from "./load";
import { TARGET_GROUP_ARN } from "./stage";

const execFileAsync = promisify(execFile);
const LISTEN = "127.0.0.80";
const TARGETS = { "i-0aaaaaaaaaaaaaaa1": { server: "h1", address: "127.0.0.81" }, "i-0aaaaaaaaaaaaaaa2": { server: "h2", address: "127.0.0.82" } } as const;
type TargetId = keyof typeof TARGETS;

describe("the load balancer stand-in (HAProxy from the program's target group) behaves as AWS documents", function () {
    this.timeout(5 * 60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-lb-standin-"));
    let balancer: LoadBalancerStandin;
    let servers: https.Server[] = [];
    const hits: Record<string, number> = { h1: 0, h2: 0 };
    let binDir = "";
    let tgInputs: Record<string, unknown> = {};

    const aws = (...args: string[]) => {
        const result = spawnSync("aws", ["elbv2", ...args], { encoding: "utf8", env: { ...process.env, PATH: `${binDir}:${process.env.PATH}` } });
        return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
    };
    const region = ["--region", "ap-south-1", "--target-group-arn", TARGET_GROUP_ARN];
    const state = (id: TargetId) => aws("describe-target-health", ...region, "--targets", `Id=${id},Port=443`, "--query", "TargetHealthDescriptions[0].TargetHealth.State", "--output", "text").stdout;
    // Asynchronous: the targets are servers of this process, which must keep answering meanwhile.
    const get = async () => (await execFileAsync("curl", ["-ks", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", `https://${LISTEN}/api/v1/health`], { encoding: "utf8" })).stdout;

    before(async () => {
        // A real key and certificate where the program's would come from Cloudflare.
        execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path.join(dir, "k.pem"),
            "-out", path.join(dir, "c.pem"), "-days", "1", "-subj", "/CN=api-staging.pakashop.store"], { stdio: "ignore" });
        const key = fs.readFileSync(path.join(dir, "k.pem"), "utf8");
        const cert = fs.readFileSync(path.join(dir, "c.pem"), "utf8");
        const run = await runOffline(loadStackConfig("staging"), {
            hook: async (args) => {
                if (args.type === "tls:index/privateKey:PrivateKey") return { id: args.name, state: { ...args.inputs, privateKeyPem: key } };
                if (args.type === "cloudflare:index/originCaCertificate:OriginCaCertificate") return { id: args.name, state: { ...args.inputs, certificate: cert } };
                return undefined;
            },
        });
        tgInputs = unwrapSecrets(run.resources.find((r) => r.type === "aws:lb/targetGroup:TargetGroup")?.inputs) as Record<string, unknown>;
        // The targets: HTTPS on 443, healthy on every path, counting the requests they serve.
        servers = await Promise.all(Object.values(TARGETS).map(({ server, address }) => new Promise<https.Server>((resolve) => {
            const s = https.createServer({ key, cert }, (request, response) => {
                if (request.headers["x-forwarded-for"]) hits[server] += 1;
                response.end("ok");
            });
            s.listen(443, address, () => resolve(s));
        })));
        assert.equal((servers[0].address() as AddressInfo).port, 443);
        binDir = installConsoleStandin(dir).binDir;
        balancer = await startLoadBalancerStandin({
            listenAddress: LISTEN, run, targetGroupArn: TARGET_GROUP_ARN, standinDir: dir,
            servers: Object.values(TARGETS).map(({ server, address }) => ({ name: server, address })),
            instances: Object.fromEntries(Object.entries(TARGETS).map(([id, t]) => [id, t.server])),
        });
    });

    after(async () => {
        await balancer?.stop();
        await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("is configured from the program's recorded target group: health check, thresholds, deregistration delay", () => {
        const check = tgInputs.healthCheck as Record<string, unknown>;
        assert.deepEqual(balancer.settings.healthCheck, {
            path: check.path, protocol: check.protocol, matcher: check.matcher, intervalSeconds: check.interval, timeoutSeconds: check.timeout,
            healthyThreshold: check.healthyThreshold, unhealthyThreshold: check.unhealthyThreshold,
        });
        assert.equal(balancer.settings.deregistrationDelaySeconds, tgInputs.deregistrationDelay);
        assert.equal(spawnSync("haproxy", ["-c", "-f", path.join(dir, "elbv2", "haproxy.cfg")]).status, 0);
    });

    it("no target registered: nothing served; a registered target is `initial` and gets no request until it passed `healthyThreshold` checks", async () => {
        assert.equal(await get(), "503");
        assert.equal(state("i-0aaaaaaaaaaaaaaa1"), "unused");
        assert.equal(aws("register-targets", ...region, "--targets", "Id=i-0aaaaaaaaaaaaaaa1,Port=443").code, 0);
        assert.equal(state("i-0aaaaaaaaaaaaaaa1"), "initial");
        assert.equal(await get(), "503");
        const { intervalSeconds, healthyThreshold } = balancer.settings.healthCheck;
        const deadline = Date.now() + (healthyThreshold + 2) * intervalSeconds * 1000;
        while (state("i-0aaaaaaaaaaaaaaa1") !== "healthy") {
            assert.ok(Date.now() < deadline, "not healthy in time");
            await sleep(200);
        }
        assert.equal(await get(), "200");
        assert.equal(hits.h1, 1);
        const listed = aws("describe-target-health", ...region, "--query", "TargetHealthDescriptions[].[Target.Id,TargetHealth.State]", "--output", "text");
        assert.equal(listed.stdout, "i-0aaaaaaaaaaaaaaa1\thealthy");
    });

    it("a deregistered target gets no new request at once, shows `draining` for the deregistration delay, then `unused`", async () => {
        await waitHealthy(aws, region, "i-0aaaaaaaaaaaaaaa2", balancer);
        assert.equal(aws("deregister-targets", ...region, "--targets", "Id=i-0aaaaaaaaaaaaaaa1,Port=443").code, 0);
        const before = { ...hits };
        for (let i = 0; i < 10; i++) assert.equal(await get(), "200");
        assert.deepEqual({ h1: hits.h1 - before.h1, h2: hits.h2 - before.h2 }, { h1: 0, h2: 10 });
        assert.equal(state("i-0aaaaaaaaaaaaaaa1"), "draining");
        await sleep(balancer.settings.deregistrationDelaySeconds * 1000 + 500);
        assert.equal(state("i-0aaaaaaaaaaaaaaa1"), "unused");
    });

    it("refuses what the CLI would refuse: another target group, a target that is no instance, an unknown call", () => {
        assert.equal(aws("describe-target-health", "--region", "ap-south-1", "--target-group-arn", `${TARGET_GROUP_ARN}0`, "--query", "x", "--output", "text").code, 254);
        assert.equal(aws("register-targets", ...region, "--targets", "Id=i-0bbbbbbbbbbbbbbb9,Port=443").code, 254);
        assert.equal(aws("create-target-group", ...region).code, 255);
    });
});

async function waitHealthy(aws: (...args: string[]) => { code: number | null }, region: string[], id: TargetId, balancer: LoadBalancerStandin): Promise<void> {
    assert.equal(aws("register-targets", ...region, "--targets", `Id=${id},Port=443`).code, 0);
    const deadline = Date.now() + (balancer.settings.healthCheck.healthyThreshold + 2) * balancer.settings.healthCheck.intervalSeconds * 1000;
    while (!(await balancer.servers())[TARGETS[id].server].serving) {
        assert.ok(Date.now() < deadline, `${id} not healthy in time`);
        await sleep(200);
    }
}
