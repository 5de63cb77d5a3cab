/**
 * The program's rollout, run for real: the staging stack under mocks, where the hosts are real
 * systemd hosts booted here on a test network shaped like the stack's (a private segment for
 * the VPC with this machine in the deploy runner's position, a public side for the internet,
 * and on every host a firewall rendered from the program's own security groups), and every
 * `command:*` step runs for real through {@link CommandEngine}: remote ones over SSH to the
 * hosts' private addresses with the host keys the program read from their consoles. Every
 * deploy reads the release manifest (a copy of Pulumi.staging.yaml, edited with
 * tools/release.ts), as the deploy workflow does. Needs root.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { CATALOG } from "../../components/catalog";
import { rolloutWaves, serviceDependencies } from "../../components/rollout";
import { readStackFile } from "../../components/stackFile";
import { DRIFT_EXIT_CODE } from "../../tools/drift/check";
import { DriftReport } from "../../tools/drift/report";
import { OfflineRun, unwrapSecrets } from "../../tools/offlineRun";
import { REVISION_KEY, SERVICES_KEY } from "../../tools/release";
import { REPO_ROOT } from "../../tools/stackConfig";
import { CommandEngine, CommandFailed } from "./commandEngine";
import { FIXTURE_MARKERS, ReleaseRepository } from "./fixture";
import { httpGet, parseCurl, unitStates } from "./hostProbes";
import { prepareStage, ServiceRevisions, Stage } from "./stage";
import { TestHost } from "./testHost";
import { listRuleset, ProbeResult, PUBLIC, tcpProbe } from "./testNetwork";
import { netnsName } from "./testHostResources";

const ids = Object.keys(CATALOG.services);
/** The staging file runs one backend host: its rollout's steps. */
const ROLLOUT = "pakashop-staging-rollout-1";
const STAGE = "backend";
const SEGMENT_INDEX = 31;

/** GET of the API as Cloudflare's proxy makes it: from the public side, from a Cloudflare address, to the load balancer on 443. */
function originGet(stage: Stage, urlPath: string): { status: number; body: string } {
    return parseCurl(execFileSync("ip", ["netns", "exec", stage.publicNetns, "curl", "--noproxy", "*", "-ks", "--max-time", "5", "--interface", PUBLIC.cloudflareAddress,
        "-w", "\n%{http_code}", `https://${PUBLIC.loadBalancerAddress}${urlPath}`], { encoding: "utf8" }));
}

/** The marker a service's health body reports when deployed at `commit` (v2 changes only the changed service). */
function markerAt(repo: ReleaseRepository, id: string, commit: string): string {
    if (commit === repo.commits.v1 || id !== repo.changedService) return FIXTURE_MARKERS.v1;
    return FIXTURE_MARKERS.v2;
}

/**
 * What a new release of one service runs: its sources are copied (the copy step is replaced;
 * the old copy's delete does nothing), its release is prepared (the prepare step is replaced;
 * it has no delete), and the host's switch runs again (an update: it is never replaced).
 */
function changedServiceSteps(serviceId: string): string[] {
    return [`replace ${ROLLOUT}-sources`, `delete ${ROLLOUT}-sources`,
        `replace ${ROLLOUT}-${serviceId}-prepare`, `delete ${ROLLOUT}-${serviceId}-prepare`,
        // The drain and return steps around the switch run exactly when it does (their triggers
        // hold its digest): replaced, and a local step's delete runs nothing.
        `replace ${ROLLOUT}-drain`, `delete ${ROLLOUT}-drain`, `update ${ROLLOUT}-switch`, `replace ${ROLLOUT}-return`, `delete ${ROLLOUT}-return`];
}

/** The services the switch restarted, from its log (`tier <id>: switching a b c`). */
function switchedBy(execution: { stdout: string }): string[] {
    return [...execution.stdout.matchAll(/tier [a-z-]+: switching (.+)/g)].flatMap((m) => m[1].trim().split(/\s+/));
}

/** The dependency caches on the host, by language/key. */
async function dependencyCaches(host: TestHost): Promise<string[]> {
    const result = await host.ssh("cd /var/cache/pakashop/deps && find . -mindepth 2 -maxdepth 2 -type d | sort");
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim().split("\n").filter(Boolean);
}

/** Every (dependency, dependent) pair of section 3.2's tier edges. */
function tierEdges(): [string, string][] {
    return ids.flatMap((id) => serviceDependencies(CATALOG, id).map((dep): [string, string] => [dep, id]));
}

/** Resources whose recorded inputs differ between two runs (or that only one of them has). */
function changedInputs(a: OfflineRun, b: OfflineRun): string[] {
    const inputsOf = (run: OfflineRun) => new Map(run.resources.map((r) => [r.urn, JSON.stringify(unwrapSecrets(r.inputs))]));
    const [before, after] = [inputsOf(a), inputsOf(b)];
    return [...new Set([...before.keys(), ...after.keys()])].filter((urn) => before.get(urn) !== after.get(urn));
}

/** The drift report's findings as `service field expected->actual` lines. */
function findingsOf(report: DriftReport): string[] {
    return report.findings.map((f) => `${f.service} ${f.field}`);
}

describe("rollout on real systemd hosts (e2e)", function () {
    this.timeout(20 * 60_000);
    let stage: Stage;
    let host: TestHost;
    let repo: ReleaseRepository;
    let engine: CommandEngine;
    const deploy = (revision: string, services: ServiceRevisions = {}) => stage.deploy(revision, services);
    const recorded = () => readStackFile(stage.projectDir, "staging")?.values ?? {};

    before(async () => {
        stage = await prepareStage(STAGE, SEGMENT_INDEX);
        ({ host, repo, engine } = stage);
    });

    after(async () => {
        await stage?.teardown();
        // Nothing may outlive the test: no netns (hosts, segment, public side), no veth of
        // ours, no mount, no process of the hosts.
        assert.doesNotMatch(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }), new RegExp(`pkst-${STAGE}`));
        assert.doesNotMatch(execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" }), /pkst-/);
        assert.doesNotMatch(execFileSync("mount", [], { encoding: "utf8" }), new RegExp(`pakashop-testhost/hosts/${STAGE}`));
        // The hosts' processes lived in their cgroups; a cgroup is removed only once it is empty.
        for (const name of [STAGE, `${STAGE}-redis`, `${STAGE}-search`]) {
            assert.ok(!fs.existsSync(`/sys/fs/cgroup/unified/pkst-${name}`) && !fs.existsSync(`/sys/fs/cgroup/pkst-${name}`), `the cgroup of ${name} is left`);
        }
    });

    it("first run from the stack file: all 19 units active and enabled, every health endpoint answers, nginx proxies the gateway", async () => {
        await deploy(repo.commits.v1);
        const states = await unitStates(host);
        for (const id of ids) {
            assert.equal(states[id].active, "active", `${id} is ${states[id].active}`);
            assert.equal(states[id].enabled, "enabled", `${id} is ${states[id].enabled}`);
            const service = CATALOG.services[id];
            const response = await httpGet(host, service.port, service.healthPath);
            assert.equal(response.status, 200, `${id} health`);
            assert.deepEqual(JSON.parse(response.body), { service: id, revision: "v1" });
        }
        for (const [scheme, port] of [["http", 80], ["https", 443]] as const) {
            const response = await httpGet(host, port, "/api/v1/health", scheme);
            assert.equal(response.status, 200, `nginx ${scheme}`);
            assert.equal(JSON.parse(response.body).service, "gateway");
        }
        // The way the public reaches it: Cloudflare's proxy to the origin's Elastic IP on 443.
        assert.equal(JSON.parse(originGet(stage, "/api/v1/health").body).service, "gateway");
        assert.equal(originGet(stage, "/api/v1/health/ready").status, 200);
    });

    it("the deploy ran from the runner's position, to every host's private address, with host keys from the consoles; from the internet only Cloudflare reaches the load balancer's 443, and no host at all", async () => {
        const { redisHost, searchHost, segment } = stage;
        // Every remote step went to a private address on the segment.
        const targets = new Set(engine.executions.map((e) => e.target).filter((t): t is string => t !== undefined));
        assert.deepEqual([...targets].sort(), [host, redisHost, searchHost].map((h) => `root@${h.address}`).sort());
        for (const h of [host, redisHost, searchHost]) assert.ok(h.address.startsWith(segment.cidr.replace(/0\/24$/, "")), h.address);
        // Each host's key came from its console: one host-key step per instance, through the
        // stand-in for EC2's console API, and the stack outputs pin exactly the host's own key.
        const keySteps = engine.executions.filter((e) => e.name.endsWith("-host-key")).map((e) => `${e.action} ${e.name}`).sort();
        assert.deepEqual(keySteps, ["backend-1", "cache-host", "search-host"].map((n) => `create pakashop-staging-${n}-host-key`));
        const asked = stage.console.calls().filter((args) => args[0] === "ec2").map((args) => args[args.indexOf("--instance-id") + 1]);
        assert.deepEqual([...new Set(asked)].sort(), (["backend-1", "redis", "search"] as const).map((r) => stage.instanceId(r)).sort());
        const { outputs } = stage;
        assert.deepEqual(outputs.backendHosts, [{
            name: "backend-1", instanceId: stage.instanceId("backend-1"), privateIp: host.address,
            hostKey: host.hostPublicKey.split(" ").slice(0, 2).join(" "), availabilityZone: (outputs.backendHosts as { availabilityZone: string }[])[0].availabilityZone,
        }]);
        assert.equal(outputs.backendPublicIp, undefined);
        // Each host's firewall, and the load balancer's, is the one rendered from the program's security groups.
        for (const h of [host, redisHost, searchHost]) assert.match(await listRuleset(netnsName(h.name)), /policy drop;/, h.name);
        assert.match(await listRuleset(stage.lbNetns), /policy drop;/);

        const probe = (label: string, netns: string | undefined, target: string, port: number, from?: string) =>
            tcpProbe(netns, target, port, from).then((result): [string, ProbeResult] => [label, result]);
        const pub = stage.publicNetns;
        const backendNetns = netnsName(host.name);
        const results = Object.fromEntries(await Promise.all([
            // The runner's position: SSH to every host; nothing else is opened to it.
            probe("runner -> backend:22", undefined, host.address, 22),
            probe("runner -> redis:22", undefined, redisHost.address, 22),
            probe("runner -> search:22", undefined, searchHost.address, 22),
            probe("runner -> backend:443", undefined, host.address, 443),
            probe("runner -> backend:80", undefined, host.address, 80),
            probe("runner -> redis:6379", undefined, redisHost.address, 6379),
            // The load balancer's private side: the hosts' 443 only (the target group's port).
            probe("load balancer -> backend:443", stage.lbNetns, host.address, 443),
            probe("load balancer -> backend:80", stage.lbNetns, host.address, 80),
            probe("load balancer -> backend:22", stage.lbNetns, host.address, 22),
            // The internet: an ordinary client and Cloudflare's proxy, to the load balancer.
            probe("client -> load balancer:443", pub, PUBLIC.loadBalancerAddress, 443, PUBLIC.clientAddress),
            probe("client -> load balancer:22", pub, PUBLIC.loadBalancerAddress, 22, PUBLIC.clientAddress),
            probe("cloudflare -> load balancer:443", pub, PUBLIC.loadBalancerAddress, 443, PUBLIC.cloudflareAddress),
            probe("cloudflare -> load balancer:80", pub, PUBLIC.loadBalancerAddress, 80, PUBLIC.cloudflareAddress),
            // Every host from the internet, even with a route to the private range through the load balancer.
            ...([["backend", host], ["redis", redisHost], ["search", searchHost]] as const).flatMap(([label, h]) => [22, 443, 6379, 7700].map((port) =>
                probe(`client -> ${label}:${port}`, pub, h.address, port, PUBLIC.cloudflareAddress))),
            // The backend host: its data tiers' ports, but no SSH to them.
            probe("backend -> redis:6379", backendNetns, redisHost.address, 6379),
            probe("backend -> search:7700", backendNetns, searchHost.address, 7700),
            probe("backend -> redis:22", backendNetns, redisHost.address, 22),
        ]));
        const outOfReach = (result: ProbeResult) => (result === "filtered" || result === "unreachable" ? "out of reach" : result);
        const hostLabel = /^client -> (backend|redis|search):/;
        assert.deepEqual({
            ...results,
            ...Object.fromEntries(Object.entries(results).filter(([label]) => hostLabel.test(label)).map(([label, r]) => [label, outOfReach(r)])),
        }, {
            "runner -> backend:22": "open",
            "runner -> redis:22": "open",
            "runner -> search:22": "open",
            "runner -> backend:443": "filtered",
            "runner -> backend:80": "filtered",
            "runner -> redis:6379": "filtered",
            "load balancer -> backend:443": "open",
            "load balancer -> backend:80": "filtered",
            "load balancer -> backend:22": "filtered",
            "client -> load balancer:443": "filtered",
            "client -> load balancer:22": "filtered",
            "cloudflare -> load balancer:443": "open",
            "cloudflare -> load balancer:80": "filtered",
            ...Object.fromEntries(["backend", "redis", "search"].flatMap((h) => [22, 443, 6379, 7700].map((port) => [`client -> ${h}:${port}`, "out of reach"]))),
            "backend -> redis:6379": "open",
            "backend -> search:7700": "open",
            "backend -> redis:22": "filtered",
        });
        // The fleet's health path answers the load balancer's checks but not the internet: a
        // request through the load balancer carries X-Forwarded-For, and nginx refuses those.
        assert.equal(originGet(stage, "/healthz").status, 404);
        const check = parseCurl(execFileSync("ip", ["netns", "exec", stage.lbNetns, "curl", "--noproxy", "*", "-ks", "--max-time", "5", "-w", "\n%{http_code}",
            `https://${host.address}/healthz`], { encoding: "utf8" }));
        assert.equal(check.status, 200, check.body);
    });

    it("Redis and Meilisearch run on hosts of their own, and the services reach them over the private segment with the configured credentials", async () => {
        const redis = await stage.redisHost.ssh("systemctl is-active redis-server; systemctl is-enabled redis-server; grep -c '^requirepass ' /etc/redis/pakashop.conf; stat -c %a /etc/redis/pakashop.conf");
        assert.deepEqual(redis.stdout.trim().split("\n"), ["active", "enabled", "1", "640"]);
        const search = await stage.searchHost.ssh("systemctl is-active meilisearch; systemctl is-enabled meilisearch; stat -c %a /etc/meilisearch/env");
        assert.deepEqual(search.stdout.trim().split("\n"), ["active", "enabled", "600"]);
        // From the backend host, with exactly what a service's EnvironmentFile holds.
        const check = await host.ssh(`set -a; . /etc/pakashop/gateway.env; set +a
            stat -c %a /etc/pakashop/gateway.env
            password=\${REDIS_URL#redis://:}; password=\${password%%@*}
            address=\${REDIS_URL##*@}; address=\${address%:*}
            echo "$address"
            REDISCLI_AUTH=$password redis-cli -h "$address" ping
            redis-cli -h "$address" ping 2>&1 | head -1
            curl -s -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $MEILI_MASTER_KEY" "$MEILI_HOST/version"
            curl -s -o /dev/null -w '%{http_code}\\n' "$MEILI_HOST/version"`);
        assert.equal(check.code, 0, check.stderr);
        assert.deepEqual(check.stdout.trim().split("\n"), ["600", stage.redisHost.address, "PONG", "NOAUTH Authentication required.", "200", "401"]);
    });

    it("prepared every release at once before switching anything, then switched in the order of section 3.2, each tier's services together", async () => {
        const prepares = engine.executions.filter((e) => e.name.endsWith("-prepare"));
        assert.equal(prepares.length, 19);
        const switchStep = engine.executions.find((e) => e.name === `${ROLLOUT}-switch`);
        assert.ok(switchStep);
        // Phase 1 waits for no tier: the prepare steps overlap, and all of them end before the
        // switch starts (nothing restarts onto a release that is not built).
        assert.ok(Math.max(...prepares.map((p) => p.startedMs)) < Math.min(...prepares.map((p) => p.endedMs)), "the 19 prepare steps overlap in time");
        assert.ok(switchStep.startedMs >= Math.max(...prepares.map((p) => p.endedMs)), "the switch started before every release was prepared");
        // Phase 2: one session for the host, the tiers in order, a tier's services together.
        assert.deepEqual([...switchStep.stdout.matchAll(/tier ([a-z-]+): switching/g)].map((m) => m[1]), rolloutWaves(CATALOG).map((w) => w.tier.id));
        assert.deepEqual(switchedBy(switchStep).sort(), [...ids].sort());
        const states = await unitStates(host);
        for (const [dep, id] of tierEdges()) {
            assert.ok(states[id].activeSinceUs > states[dep].activeSinceUs, `${id} became active before ${dep}`);
        }
        const supporting = (rolloutWaves(CATALOG).at(-1)?.serviceIds ?? []).map((id) => states[id].activeSinceUs);
        const spreadMs = (Math.max(...supporting) - Math.min(...supporting)) / 1000;
        assert.ok(spreadMs < 1000, `the supporting tier's 14 services became active ${spreadMs} ms apart: not restarted together`);
    });

    it("a second run of the unchanged stack file executes no command", async () => {
        const before = engine.executions.length;
        await stage.deployFromFile();
        assert.deepEqual(engine.since(before).map((e) => e.name), []);
    });

    it("sources reach the host from the machine running Pulumi; the host can reach the private monorepo but not read it, and keeps no copy", async () => {
        const { url, token } = stage.privateRemote;
        // The host's network reaches the monorepo's server; without the token it gets 401, as
        // from GitHub for a private repository. With the token (which the host never gets) 200:
        // the first answer is the credential's doing, not the network's.
        const probe = await host.ssh(`curl --noproxy '*' -s -o /dev/null -w '%{http_code}\\n' '${url}/info/refs'
            curl --noproxy '*' -s -o /dev/null -w '%{http_code}\\n' -u 'x-access-token:${token}' '${url}/info/refs'`);
        assert.deepEqual(probe.stdout.trim().split("\n"), ["401", "200"]);
        // What the host has of the monorepo is what the copy steps shipped: one tarball per
        // service, no repository and no credential.
        const onHost = await host.ssh(`ls /var/lib/pakashop/incoming | wc -l
            stat -c '%a %U' /var/lib/pakashop/incoming
            find / -xdev \\( -name '*.git' -o -name 'packed-refs' -o -name '.git-credentials' \\) -not -path '/usr/*' 2>/dev/null | wc -l
            ls /opt/pakashop`);
        assert.equal(onHost.code, 0, onHost.stderr);
        assert.deepEqual(onHost.stdout.trim().split("\n"), ["19", "700 root", "0", "services"]);
        // The stack's recorded inputs stay small: the sources are in state as asset hashes.
        const run = await stage.deployFromFile();
        const sizes = run.resources.map((r) => ({ name: r.name, bytes: JSON.stringify(unwrapSecrets(r.inputs)).length }));
        const total = sizes.reduce((sum, r) => sum + r.bytes, 0);
        const largest = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a));
        const tarballs = fs.readdirSync(path.join(REPO_ROOT, ".pakashop", "sources")).filter((f) => f.endsWith(".tar"))
            .reduce((sum, f) => sum + fs.statSync(path.join(REPO_ROOT, ".pakashop", "sources", f)).size, 0);
        process.stdout.write(`      recorded inputs: ${run.resources.length} resources, ${(total / 1024).toFixed(1)} KiB in all, largest ${largest.name} ` +
            `${(largest.bytes / 1024).toFixed(1)} KiB; source tarballs in this machine's cache: ${(tarballs / 1024).toFixed(1)} KiB\n`);
        assert.ok(largest.bytes < 64 * 1024, `${largest.name} records ${largest.bytes} bytes of inputs`);
    });

    it("right after a deploy, the drift check and a plan from the recorded stack file (the drift workflow's way) find no change", async () => {
        // The manifest holds the released revision; nothing of it comes from an override.
        assert.equal(recorded()[REVISION_KEY], repo.commits.v1);
        const before = engine.executions.length;
        const deployed = await stage.deployFromFile();
        assert.deepEqual(engine.since(before).map((e) => `${e.action} ${e.name}`), [], "an up from the file ran steps");
        // `npm run drift` against the stack outputs' private address and pinned key.
        const report = await stage.driftCheck();
        assert.deepEqual({ host: report.host, drift: report.drift, checked: report.checked, findings: report.findings },
            { host: host.address, drift: false, checked: 19, findings: [] });
        // `pulumi preview`: no step would run, and every resource's inputs are what was deployed.
        const plan = await stage.preview();
        assert.deepEqual(plan.steps, []);
        assert.deepEqual(changedInputs(deployed, plan.run), []);
    });

    it("a new monorepo revision that changes one service's code rebuilds and restarts that service only: the other 18 keep their PIDs, and no package is installed", async () => {
        const pidsBefore = await unitStates(host);
        const cachesBefore = await dependencyCaches(host);
        const before = engine.executions.length;
        await deploy(repo.commits.v2);
        const ran = engine.since(before);
        assert.deepEqual(ran.map((e) => `${e.action} ${e.name}`), changedServiceSteps(repo.changedService));
        const pidsAfter = await unitStates(host);
        for (const id of ids) {
            if (id === repo.changedService) assert.notEqual(pidsAfter[id].pid, pidsBefore[id].pid);
            else assert.equal(pidsAfter[id].pid, pidsBefore[id].pid, `${id} was restarted`);
        }
        assert.deepEqual(switchedBy(ran.find((e) => e.name === `${ROLLOUT}-switch`) as { stdout: string }), [repo.changedService]);
        // Its code changed, its lockfile did not: the dependencies came from the host's cache.
        const prepare = ran[2];
        assert.match(prepare.stdout, /dependencies: reused node cache [0-9a-f]+/);
        assert.doesNotMatch(prepare.stdout, /dependencies: installing/);
        assert.deepEqual(await dependencyCaches(host), cachesBefore, "a dependency cache was added");
        const service = CATALOG.services[repo.changedService];
        assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, "v2");
    });

    it("a revision passed only as an override (`pulumi up --config revision=...`) is not recorded: the next plan and drift check show the changed service going back; recorded in the file, both are clean", async () => {
        // The manifest as the old workflows left it: the last recorded revision, v1.
        stage.release({ revision: repo.commits.v1 });
        const v1Release = (await stage.preview()).run.outputs.serviceReleases as Record<string, string>;
        await stage.deployWithOverride(repo.commits.v2);
        const deployed = stage.outputs.serviceReleases as Record<string, string>;
        assert.equal(recorded()[REVISION_KEY], repo.commits.v1, "the override changed the recorded manifest");

        // The drift workflow reads the file: it plans the changed service back to its v1
        // release, and finds the host running another release than recorded. Its issue would
        // never close.
        const stale = await stage.preview();
        assert.deepEqual(stale.steps.map((s) => `${s.action} ${s.name}`).sort(),
            // (The return step follows the drain's output, which a preview does not know: the engine
            // shows it as a replacement too; the stand-in's preview keeps the old output.)
            [`replace ${ROLLOUT}-${repo.changedService}-prepare`, `replace ${ROLLOUT}-sources`, `update ${ROLLOUT}-switch`, `replace ${ROLLOUT}-drain`].sort());
        const drift = await stage.driftCheck();
        assert.equal(drift.drift, true);
        assert.deepEqual(drift.findings.map((f) => `${f.service} ${f.field} ${f.expected} -> ${f.actual}`),
            [`${repo.changedService} release ${(unwrapSecrets(v1Release) as Record<string, string>)[repo.changedService]} -> ${deployed[repo.changedService]}`]);

        // What the deploy workflow does now: the revision is recorded in the manifest.
        assert.equal(stage.release({ revision: repo.commits.v2 }).changed, true);
        assert.deepEqual((await stage.preview()).steps, []);
        assert.deepEqual(findingsOf(await stage.driftCheck()), []);
    });

    it("runbook: a single-service rollback through the stack file (services.<id>.revision) redeploys that service only; clearing the pin brings it back", async () => {
        const service = CATALOG.services[repo.changedService];
        const health = async () => JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision;
        assert.equal(await health(), "v2");
        const others = ids.filter((i) => i !== repo.changedService);
        const pidsBefore = await unitStates(host);

        // `npm run -s release -- --stack staging --service search --revision <previous commit>`
        assert.equal(stage.release({ service: repo.changedService, revision: repo.commits.v1 }).changed, true);
        let before = engine.executions.length;
        await stage.deployFromFile();
        assert.deepEqual(engine.since(before).map((e) => `${e.action} ${e.name}`), changedServiceSteps(repo.changedService));
        // The earlier release is still on the host: nothing is rebuilt.
        assert.match(engine.since(before)[2].stdout, /release [0-9a-f]{20} already prepared/);
        assert.equal(await health(), "v1");
        let pidsAfter = await unitStates(host);
        for (const id of others) assert.equal(pidsAfter[id].pid, pidsBefore[id].pid, `${id} was restarted`);
        // The pin is recorded: the drift workflow finds nothing to report.
        assert.deepEqual((recorded()[SERVICES_KEY] as Record<string, unknown>)[repo.changedService], { revision: repo.commits.v1 });
        assert.deepEqual((await stage.preview()).steps, []);
        assert.deepEqual(findingsOf(await stage.driftCheck()), []);

        // `npm run -s release -- --stack staging --service search --clear` once the fix is out.
        assert.equal(stage.release({ service: repo.changedService, clear: true }).changed, true);
        before = engine.executions.length;
        await stage.deployFromFile();
        assert.deepEqual(engine.since(before).map((e) => `${e.action} ${e.name}`), changedServiceSteps(repo.changedService));
        assert.equal(await health(), "v2");
        pidsAfter = await unitStates(host);
        for (const id of others) assert.equal(pidsAfter[id].pid, pidsBefore[id].pid, `${id} was restarted`);
        assert.deepEqual(findingsOf(await stage.driftCheck()), []);
    });

    it(`host drift check: clean after a deploy; a hand-edited unit and a stopped service are exactly what it reports (exit ${DRIFT_EXIT_CODE})`, async () => {
        const clean = await stage.driftCheck();
        assert.deepEqual({ drift: clean.drift, checked: clean.checked, findings: clean.findings }, { drift: false, checked: 19, findings: [] });

        const edited = "pakashop-tracking.service";
        const edit = await host.ssh(`echo '# edited by hand' >> /etc/systemd/system/${edited} && systemctl daemon-reload && systemctl stop pakashop-fraud.service`);
        assert.equal(edit.code, 0, edit.stderr);
        const dirty = await stage.driftCheck();
        assert.equal(dirty.drift, true);
        const findings = dirty.findings.map((f) => `${f.service} ${f.field}${f.field === "active" ? ` ${f.actual}` : ""}`);
        assert.deepEqual(findings.sort(), ["fraud active inactive", "tracking unitFile"]);

        const restore = await host.ssh(`sed -i '$d' /etc/systemd/system/${edited} && systemctl daemon-reload && systemctl start pakashop-fraud.service`);
        assert.equal(restore.code, 0, restore.stderr);
        assert.equal((await stage.driftCheck()).drift, false);
    });

    it("a release that fails its health gate is rolled back, the switch fails with the journal, and later tiers are not touched although their new releases are prepared", async () => {
        const broken = repo.brokenService;
        const brokenTier = CATALOG.services[broken].tier;
        const laterTiers = rolloutWaves(CATALOG).slice(rolloutWaves(CATALOG).findIndex((w) => w.tier.id === brokenTier) + 1);
        const later = laterTiers.flatMap((w) => w.serviceIds);
        assert.ok(later.length > 0);
        const pidsBefore = await unitStates(host);
        const before = engine.executions.length;
        // Every service moves to v3 (all changed), the broken one to its crashing commit: if the
        // gate let it through, every later tier would restart.
        stage.release({ revision: repo.commits.v3 });
        stage.release({ service: broken, revision: repo.commits.broken });
        await assert.rejects(stage.deployFromFile(), (error: unknown) => {
            assert.ok(error instanceof CommandFailed, String(error));
            assert.match(error.execution.name, /-rollout-1-switch$/);
            assert.match(error.execution.stderr, new RegExp(`journal of pakashop-${broken}\\.service`));
            assert.match(error.execution.stderr, new RegExp(`${broken} [0-9a-f]{20} did not become healthy within 20s .*; rolled back, later tiers not touched`));
            assert.match(error.execution.stdout, new RegExp(`${broken}: rolled back to releases/[0-9a-f]{20}; active again`));
            return true;
        });
        const ran = engine.since(before);
        // Phase 1 built every new release; phase 2 stopped at the broken tier.
        assert.equal(ran.filter((e) => e.name.endsWith("-prepare") && e.action === "replace").length, 19);
        const switched = switchedBy(ran.find((e) => e.name === `${ROLLOUT}-switch`) as { stdout: string });
        for (const id of later) assert.ok(!switched.includes(id), `${id} (a later tier) was switched`);
        const states = await unitStates(host);
        assert.equal(states[broken].active, "active");
        const service = CATALOG.services[broken];
        // Back on the release it ran before (v2).
        assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, "v2");
        for (const id of later) {
            assert.equal(states[id].pid, pidsBefore[id].pid, `${id} was restarted`);
            const laterService = CATALOG.services[id];
            assert.equal(JSON.parse((await httpGet(host, laterService.port, laterService.healthPath)).body).revision, markerAt(repo, id, repo.commits.v2), id);
        }
        stage.release({ service: broken, clear: true });
    });

    it("runbook: a code rollback records the last good commit and deploys it to every service, from releases already on the host", async () => {
        // The failed deploy was never recorded by the workflow; the manifest goes back to the last good commit.
        stage.release({ revision: repo.commits.v2 });
        const before = engine.executions.length;
        await stage.deployFromFile();
        const ran = engine.since(before).filter((e) => e.action === "replace" && e.name.endsWith("-prepare"));
        assert.equal(ran.length, 19, "every service's steps go back to its v2 release");
        for (const execution of ran) assert.match(execution.stdout, /release [0-9a-f]{20} already prepared/, `${execution.name} rebuilt a release`);
        for (const id of ids) {
            const service = CATALOG.services[id];
            assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, markerAt(repo, id, repo.commits.v2), id);
        }
        assert.deepEqual((await stage.preview()).steps, []);
    });

    it("after a poweroff and a new boot, all 19 come back in dependency order", async () => {
        await host.poweroff();
        await host.bootAgain();
        let states = await unitStates(host);
        for (let i = 0; i < 40 && ids.some((id) => states[id].active !== "active"); i++) {
            await new Promise((r) => setTimeout(r, 250));
            states = await unitStates(host);
        }
        for (const id of ids) assert.equal(states[id].active, "active", `${id} after reboot`);
        for (const [dep, id] of tierEdges()) {
            assert.ok(states[id].activeSinceUs >= states[dep].activeSinceUs, `${id} came up before ${dep} after reboot`);
        }
        assert.equal(originGet(stage, "/api/v1/health").status, 200);
    });

    it("a replaced host (new instance id, nothing deployed on it) gets its key read again and every step again, and the old steps' deletes leave it alone", async () => {
        // The new machine is a new target of the load balancer; its disk is a fresh image's: no services, no
        // releases, no sources, no nginx site. (It is the same test host, so its console shows
        // the same key; the program reads it again for the new instance id.)
        const wipe = await host.ssh(`systemctl disable --now --quiet $(cd /etc/systemd/system && ls pakashop-*.service)
            rm -rf /etc/systemd/system/pakashop-*.service /opt/pakashop /var/lib/pakashop /var/cache/pakashop /etc/pakashop /etc/pakashop-host-id \\
              /etc/nginx/sites-enabled/pakashop /etc/nginx/sites-available/pakashop /etc/nginx/tls
            systemctl daemon-reload`);
        assert.equal(wipe.code, 0, wipe.stderr);
        const oldId = stage.instanceId("backend-1");
        stage.replaceBackendInstance();
        assert.notEqual(stage.instanceId("backend-1"), oldId);
        const before = engine.executions.length;
        await stage.deployFromFile();
        const ran = engine.since(before);
        const replaced = ran.filter((e) => e.action === "replace").map((e) => e.name.replace(`${ROLLOUT}-`, "")).sort();
        assert.deepEqual(replaced, ["pakashop-staging-backend-1-host-key", "bootstrap", "proxy", "ssh-ready", "switch", "drain", "return", "retire",
            "sources", ...ids.map((id) => `${id}-prepare`)].sort());
        // The new instance was not in the target group: nothing to drain. The old one's retire
        // step drained it (deregistered, then waited until unused) before anything else of it went.
        assert.match(ran.find((e) => e.action === "replace" && e.name === `${ROLLOUT}-drain`)?.stdout ?? "", /is not in the target group: nothing to drain/);
        const retired = ran.find((e) => e.action === "delete" && e.name === `${ROLLOUT}-retire`);
        assert.match(retired?.stdout ?? "", new RegExp(`drained ${oldId} in \\d+ s`));
        const consoleCalls = stage.console.calls().filter((args) => args[0] === "ec2");
        assert.equal(consoleCalls.at(-1)?.[consoleCalls.at(-1)!.indexOf("--instance-id") + 1], stage.instanceId("backend-1"));
        assert.equal((stage.outputs.backendHosts as { instanceId: string }[])[0].instanceId, stage.instanceId("backend-1"));
        // The old switch's delete (the one that removes services) reaches the new host and leaves it alone.
        const deletes = ran.filter((e) => e.action === "delete" && e.name === `${ROLLOUT}-switch`);
        assert.equal(deletes.length, 1);
        assert.match(deletes[0].stdout, /it was replaced; nothing to remove/);
        const states = await unitStates(host);
        for (const id of ids) {
            assert.equal(states[id].active, "active", `${id} is ${states[id].active} on the new host`);
            const service = CATALOG.services[id];
            assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, markerAt(repo, id, repo.commits.v2), id);
        }
        assert.equal(originGet(stage, "/api/v1/health").status, 200);
    });

    it("destroying the stack drains the host out of the target group first, then disables and removes every service", async () => {
        const before = engine.executions.length;
        await engine.deleteUndeclared(true);
        const deletes = engine.since(before, "delete").map((e) => e.name);
        assert.ok(deletes.indexOf(`${ROLLOUT}-retire`) >= 0 && deletes.indexOf(`${ROLLOUT}-retire`) < deletes.indexOf(`${ROLLOUT}-switch`), deletes.join(", "));
        assert.equal((await stage.loadBalancer.servers()).h1.serving, false);
        const result = await host.ssh("systemctl list-unit-files 'pakashop-*' --no-legend | wc -l; ls /opt/pakashop/services | wc -l");
        assert.deepEqual(result.stdout.trim().split("\n"), ["0", "0"]);
    });
});
