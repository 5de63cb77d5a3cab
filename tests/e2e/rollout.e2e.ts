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
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { CATALOG, unitName } from "../../components/catalog";
import { rolloutWaves, serviceDependencies } from "../../components/rollout";
import { readStackFile } from "../../components/stackFile";
import { DRIFT_EXIT_CODE } from "../../tools/drift/check";
import { DriftReport } from "../../tools/drift/report";
import { OfflineRun, unwrapSecrets } from "../../tools/offlineRun";
import { REVISION_KEY, SERVICES_KEY } from "../../tools/release";
import { REPO_ROOT } from "../../tools/stackConfig";
import { CommandEngine, CommandFailed } from "./commandEngine";
import { FIXTURE_MARKERS, ReleaseRepository } from "./fixture";
import { prepareStage, ServiceRevisions, Stage } from "./stage";
import { TestHost } from "./testHost";
import { listRuleset, ProbeResult, PUBLIC, tcpProbe } from "./testNetwork";
import { netnsName } from "./testHostResources";

const ids = Object.keys(CATALOG.services);
const STAGE = "backend";
const SEGMENT_INDEX = 31;

interface UnitState {
    active: string;
    enabled: string;
    pid: number;
    activeSinceUs: number;
}

/** All 19 units' state in one SSH round trip (from this machine: the runner's position). */
async function unitStates(host: TestHost): Promise<Record<string, UnitState>> {
    const units = ids.map(unitName).join(" ");
    const result = await host.ssh(`systemctl show --property=Id,ActiveState,UnitFileState,MainPID,ActiveEnterTimestampMonotonic ${units}`);
    assert.equal(result.code, 0, result.stderr);
    const states: Record<string, UnitState> = {};
    for (const block of result.stdout.trim().split("\n\n")) {
        const p = Object.fromEntries(block.split("\n").map((line) => line.split(/=(.*)/s, 2)));
        states[p.Id.replace(/^pakashop-|\.service$/g, "")] = {
            active: p.ActiveState, enabled: p.UnitFileState, pid: Number(p.MainPID), activeSinceUs: Number(p.ActiveEnterTimestampMonotonic),
        };
    }
    return states;
}

function parseCurl(out: string): { status: number; body: string } {
    const lines = out.split("\n");
    return { status: Number(lines.pop()), body: lines.join("\n") };
}

/**
 * GET on the host itself. The services' ports and nginx's port 80 admit nobody from outside
 * (no security group opens them), so the test looks from inside, as the health gate does.
 */
async function httpGet(host: TestHost, port: number, urlPath: string, scheme = "http"): Promise<{ status: number; body: string }> {
    const result = await host.exec(["curl", "-ks", "--max-time", "5", "-w", "\n%{http_code}", `${scheme}://127.0.0.1:${port}${urlPath}`]);
    return parseCurl(result.stdout);
}

/** GET of the origin as Cloudflare's proxy makes it: from the public side, from a Cloudflare address, to the Elastic IP on 443. */
function originGet(stage: Stage, urlPath: string): { status: number; body: string } {
    return parseCurl(execFileSync("ip", ["netns", "exec", stage.publicNetns, "curl", "--noproxy", "*", "-ks", "--max-time", "5", "--interface", PUBLIC.cloudflareAddress,
        "-w", "\n%{http_code}", `https://${PUBLIC.backendAddress}${urlPath}`], { encoding: "utf8" }));
}

/** The marker a service's health body reports when deployed at `commit` (v2 changes only the changed service). */
function markerAt(repo: ReleaseRepository, id: string, commit: string): string {
    if (commit === repo.commits.v1 || id !== repo.changedService) return FIXTURE_MARKERS.v1;
    return FIXTURE_MARKERS.v2;
}

/**
 * What a new revision of one service runs: its sources are copied (the copy step is replaced;
 * its delete does nothing), then its deploy is replaced and the old deploy's delete finds
 * itself superseded.
 */
function changedServiceSteps(serviceId: string): string[] {
    return ["replace", "delete"].flatMap((action) => [`${action} pakashop-staging-rollout-${serviceId}-source`])
        .concat(["replace", "delete"].map((action) => `${action} pakashop-staging-rollout-${serviceId}-deploy`));
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

    it("the deploy ran from the runner's position, to every host's private address, with host keys from the consoles; from the public side SSH is refused and the data hosts are out of reach", async () => {
        const { redisHost, searchHost, segment } = stage;
        // Every remote step went to a private address on the segment, none to the public one.
        const targets = new Set(engine.executions.map((e) => e.target).filter((t): t is string => t !== undefined));
        assert.deepEqual([...targets].sort(), [host, redisHost, searchHost].map((h) => `root@${h.address}`).sort());
        for (const h of [host, redisHost, searchHost]) assert.ok(h.address.startsWith(segment.cidr.replace(/0\/24$/, "")), h.address);
        // Each host's key came from its console: one host-key step per instance, through the
        // stand-in for EC2's console API, and the stack outputs pin exactly the host's own key.
        const keySteps = engine.executions.filter((e) => e.name.endsWith("-host-key")).map((e) => `${e.action} ${e.name}`).sort();
        assert.deepEqual(keySteps, ["backend", "cache-host", "search-host"].map((n) => `create pakashop-staging-${n}-host-key`));
        const asked = stage.console.calls().map((args) => args[args.indexOf("--instance-id") + 1]);
        assert.deepEqual([...new Set(asked)].sort(), (["backend", "redis", "search"] as const).map((r) => stage.instanceId(r)).sort());
        const { outputs } = stage;
        assert.equal(outputs.backendPrivateIp, host.address);
        assert.equal(outputs.backendPublicIp, PUBLIC.backendAddress);
        assert.equal(outputs.backendInstanceId, stage.instanceId("backend"));
        assert.equal(outputs.backendHostKey, host.hostPublicKey.split(" ").slice(0, 2).join(" "));
        // Each host's firewall is the one rendered from the program's security groups.
        for (const h of [host, redisHost, searchHost]) assert.match(await listRuleset(netnsName(h.name)), /policy drop;/, h.name);

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
            probe("runner -> redis:6379", undefined, redisHost.address, 6379),
            // The internet: an ordinary client and Cloudflare's proxy, to the Elastic IP.
            probe("client -> backend public:22", pub, PUBLIC.backendAddress, 22, PUBLIC.clientAddress),
            probe("client -> backend public:443", pub, PUBLIC.backendAddress, 443, PUBLIC.clientAddress),
            probe("cloudflare -> backend public:22", pub, PUBLIC.backendAddress, 22, PUBLIC.cloudflareAddress),
            probe("cloudflare -> backend public:443", pub, PUBLIC.backendAddress, 443, PUBLIC.cloudflareAddress),
            // The data hosts from the internet, even with a route to the private range through the backend.
            ...[redisHost, searchHost].flatMap((h) => [22, 6379, 7700].map((port) =>
                probe(`client -> ${h === redisHost ? "redis" : "search"}:${port}`, pub, h.address, port, PUBLIC.clientAddress))),
            // The backend host: its data tiers' ports, but no SSH to them.
            probe("backend -> redis:6379", backendNetns, redisHost.address, 6379),
            probe("backend -> search:7700", backendNetns, searchHost.address, 7700),
            probe("backend -> redis:22", backendNetns, redisHost.address, 22),
        ]));
        const outOfReach = (result: ProbeResult) => (result === "filtered" || result === "unreachable" ? "out of reach" : result);
        assert.deepEqual({
            ...results,
            ...Object.fromEntries(Object.entries(results).filter(([label]) => /^client -> (redis|search)/.test(label)).map(([label, r]) => [label, outOfReach(r)])),
        }, {
            "runner -> backend:22": "open",
            "runner -> redis:22": "open",
            "runner -> search:22": "open",
            "runner -> backend:443": "filtered",
            "runner -> redis:6379": "filtered",
            "client -> backend public:22": "filtered",
            "client -> backend public:443": "filtered",
            "cloudflare -> backend public:22": "filtered",
            "cloudflare -> backend public:443": "open",
            ...Object.fromEntries(["redis", "search"].flatMap((h) => [22, 6379, 7700].map((port) => [`client -> ${h}:${port}`, "out of reach"]))),
            "backend -> redis:6379": "open",
            "backend -> search:7700": "open",
            "backend -> redis:22": "filtered",
        });
        // And ssh itself, from the internet to the Elastic IP, with the deploy key: no connection.
        const ssh = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
            // ssh takes the first value of an option: the shorter timeout goes first.
            const child = spawn("ip", ["netns", "exec", pub, "ssh", "-o", "ConnectTimeout=3", ...host.sshOptions, "-b", PUBLIC.clientAddress, `root@${PUBLIC.backendAddress}`, "true"]);
            let stderr = "";
            child.stderr.on("data", (d: Buffer) => (stderr += d));
            child.on("close", (code) => resolve({ code, stderr }));
        });
        assert.equal(ssh.code, 255);
        assert.match(ssh.stderr, /timed out/);
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

    it("deployed in the order of section 3.2, each wave in parallel", async () => {
        const steps = new Map(engine.executions.filter((e) => e.name.endsWith("-deploy")).map((e) => [e.name.replace(/^.*-rollout-|-deploy$/g, ""), e]));
        assert.equal(steps.size, 19);
        for (const [dep, id] of tierEdges()) {
            assert.ok((steps.get(id)?.startedMs ?? 0) >= (steps.get(dep)?.endedMs ?? Infinity), `${id} started before ${dep} was healthy`);
        }
        const supporting = rolloutWaves(CATALOG).at(-1)?.serviceIds.map((id) => steps.get(id)) ?? [];
        const latestStart = Math.max(...supporting.map((s) => s?.startedMs ?? 0));
        const earliestEnd = Math.min(...supporting.map((s) => s?.endedMs ?? 0));
        assert.ok(latestStart < earliestEnd, "the supporting tier's 14 deploys overlap in time");
        const states = await unitStates(host);
        for (const [dep, id] of tierEdges()) {
            assert.ok(states[id].activeSinceUs > states[dep].activeSinceUs, `${id} became active before ${dep}`);
        }
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

    it("a new revision of one service, pinned in the stack file, redeploys that service only; the others keep their PIDs", async () => {
        const pidsBefore = await unitStates(host);
        const before = engine.executions.length;
        stage.release({ service: repo.changedService, revision: repo.commits.v2 });
        await stage.deployFromFile();
        const ran = engine.since(before);
        assert.deepEqual(ran.map((e) => `${e.action} ${e.name}`), changedServiceSteps(repo.changedService));
        assert.match(ran[3].stdout, /superseded by a newer deploy; nothing to remove/);
        const pidsAfter = await unitStates(host);
        for (const id of ids) {
            if (id === repo.changedService) assert.notEqual(pidsAfter[id].pid, pidsBefore[id].pid);
            else assert.equal(pidsAfter[id].pid, pidsBefore[id].pid, `${id} was restarted`);
        }
        const service = CATALOG.services[repo.changedService];
        assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, "v2");
    });

    it("a revision passed only as an override (`pulumi up --config revision=...`) is not recorded: the next plan and drift check show all 19 services changing; recorded in the file, both are clean", async () => {
        // The old workflows knew no pins: start from a manifest at v1 with none.
        stage.release({ service: repo.changedService, clear: true });
        const before = engine.executions.length;
        await stage.deployWithOverride(repo.commits.v2);
        const redeployed = engine.since(before, "replace").filter((e) => e.name.endsWith("-deploy"));
        assert.equal(redeployed.length, 18, "the override moved the 18 services that were not on v2 yet");
        assert.equal(recorded()[REVISION_KEY], repo.commits.v1, "the override changed the recorded manifest");

        // The drift workflow reads the file: it sees every service's steps changing, and the
        // host running other revisions than recorded. Its issue would never close.
        const stale = await stage.preview();
        assert.deepEqual(stale.steps.map((s) => `${s.action} ${s.name}`).sort(),
            ids.flatMap((id) => ["source", "deploy"].map((step) => `replace pakashop-staging-rollout-${id}-${step}`)).sort());
        const drift = await stage.driftCheck();
        assert.equal(drift.drift, true);
        assert.deepEqual(findingsOf(drift).sort(), ids.map((id) => `${id} revision`).sort());
        assert.ok(drift.findings.every((f) => f.expected === repo.commits.v1 && f.actual === repo.commits.v2));

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
        assert.match(engine.since(before)[2].stdout, /release [0-9a-f]{40} already built/);
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

    it("a revision that fails its health gate is rolled back, the step fails with the journal, and later tiers are not touched", async () => {
        const broken = repo.brokenService;
        const later = ids.filter((id) => serviceDependencies(CATALOG, id).includes(broken));
        assert.ok(later.length > 0);
        const pidsBefore = await unitStates(host);
        const before = engine.executions.length;
        stage.release({ revision: repo.commits.broken });
        await assert.rejects(stage.deployFromFile(), (error: unknown) => {
            assert.ok(error instanceof CommandFailed, String(error));
            assert.match(error.execution.name, new RegExp(`-${broken}-deploy$`));
            assert.match(error.execution.stderr, new RegExp(`journal of pakashop-${broken}\\.service`));
            assert.match(error.execution.stderr, /did not become healthy within 20s/);
            assert.match(error.execution.stdout, /rolled back to releases\/[0-9a-f]{40}; \S+ is active again/);
            return true;
        });
        const touched = engine.since(before).map((e) => e.name.replace(/^.*-rollout-|-deploy$/g, ""));
        for (const id of later) assert.ok(!touched.includes(id), `${id} (a later tier) was touched`);
        const states = await unitStates(host);
        assert.equal(states[broken].active, "active");
        const service = CATALOG.services[broken];
        // Back on the release it ran before (v2, the stack's revision after the rollback's pin was cleared).
        assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, "v2");
        for (const id of later) assert.equal(states[id].pid, pidsBefore[id].pid, `${id} was restarted`);
    });

    it("runbook: a code rollback records the last good commit and deploys it to every service, from releases already on the host", async () => {
        // The failed deploy was never recorded by the workflow; the manifest goes back to the last good commit.
        stage.release({ revision: repo.commits.v2 });
        const before = engine.executions.length;
        await stage.deployFromFile();
        const ran = engine.since(before).filter((e) => e.action === "replace");
        assert.ok(ran.length > 0);
        for (const execution of ran) assert.doesNotMatch(execution.stdout, /building /, `${execution.name} rebuilt a release`);
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
        // The new machine keeps the Elastic IP; its disk is a fresh image's: no services, no
        // releases, no sources, no nginx site. (It is the same test host, so its console shows
        // the same key; the program reads it again for the new instance id.)
        const wipe = await host.ssh(`systemctl disable --now --quiet $(cd /etc/systemd/system && ls pakashop-*.service)
            rm -rf /etc/systemd/system/pakashop-*.service /opt/pakashop /var/lib/pakashop /etc/pakashop /etc/pakashop-host-id \\
              /etc/nginx/sites-enabled/pakashop /etc/nginx/sites-available/pakashop /etc/nginx/tls
            systemctl daemon-reload`);
        assert.equal(wipe.code, 0, wipe.stderr);
        const oldId = stage.instanceId("backend");
        stage.replaceBackendInstance();
        assert.notEqual(stage.instanceId("backend"), oldId);
        const before = engine.executions.length;
        await stage.deployFromFile();
        const ran = engine.since(before);
        const replaced = ran.filter((e) => e.action === "replace").map((e) => e.name.replace(/^pakashop-staging-rollout-/, "")).sort();
        assert.deepEqual(replaced, ["pakashop-staging-backend-host-key", "bootstrap", "proxy", "ssh-ready",
            ...ids.map((id) => `${id}-deploy`), ...ids.map((id) => `${id}-source`)].sort());
        assert.equal(stage.console.calls().at(-1)?.[stage.console.calls().at(-1)!.indexOf("--instance-id") + 1], stage.instanceId("backend"));
        assert.equal(stage.outputs.backendInstanceId, stage.instanceId("backend"));
        const deletes = ran.filter((e) => e.action === "delete" && e.name.endsWith("-deploy"));
        assert.equal(deletes.length, 19);
        for (const d of deletes) assert.match(d.stdout, /it was replaced; nothing to remove/, d.name);
        const states = await unitStates(host);
        for (const id of ids) {
            assert.equal(states[id].active, "active", `${id} is ${states[id].active} on the new host`);
            const service = CATALOG.services[id];
            assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, markerAt(repo, id, repo.commits.v2), id);
        }
        assert.equal(originGet(stage, "/api/v1/health").status, 200);
    });

    it("destroying the stack disables and removes every service", async () => {
        await engine.deleteUndeclared(true);
        const result = await host.ssh("systemctl list-unit-files 'pakashop-*' --no-legend | wc -l; ls /opt/pakashop/services | wc -l");
        assert.deepEqual(result.stdout.trim().split("\n"), ["0", "0"]);
    });
});
