/**
 * The program's rollout, run for real: the staging stack under mocks, where the backend
 * host's address and host key are those of a real systemd host booted here, and every
 * `command:remote:*` step runs over real SSH through {@link CommandEngine}. Needs root.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { CATALOG, unitName } from "../../components/catalog";
import { rolloutWaves, serviceDependencies } from "../../components/rollout";
import { unwrapSecrets } from "../../tools/offlineRun";
import { REPO_ROOT } from "../../tools/stackConfig";
import { CommandEngine, CommandFailed } from "./commandEngine";
import { ReleaseRepository } from "./fixture";
import { prepareStage, ServiceRevisions, Stage } from "./stage";
import { TestHost } from "./testHost";

const ids = Object.keys(CATALOG.services);

interface UnitState {
    active: string;
    enabled: string;
    pid: number;
    activeSinceUs: number;
}

/** All 19 units' state in one SSH round trip. */
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

/** GET from outside the host's network namespace, as a client would. */
async function httpGet(host: TestHost, port: number, urlPath: string, scheme = "http"): Promise<{ status: number; body: string }> {
    const { execFileSync } = await import("child_process");
    const out = execFileSync("curl", ["--noproxy", "*", "-ks", "--max-time", "5", "-w", "\n%{http_code}", `${scheme}://${host.address}:${port}${urlPath}`], { encoding: "utf8" });
    const lines = out.split("\n");
    return { status: Number(lines.pop()), body: lines.join("\n") };
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

describe("rollout on a real systemd host (e2e)", function () {
    this.timeout(20 * 60_000);
    let stage: Stage;
    let host: TestHost;
    let repo: ReleaseRepository;
    let engine: CommandEngine;
    const deploy = (revision: string, services: ServiceRevisions = {}) => stage.deploy(revision, services);

    before(async () => {
        stage = await prepareStage("backend", 31);
        ({ host, repo, engine } = stage);
    });

    after(async () => {
        await stage?.teardown();
        // Nothing may outlive the test: no netns, no mount, no process of the host.
        const { execFileSync } = await import("child_process");
        assert.doesNotMatch(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }), /pkst-backend/);
        assert.doesNotMatch(execFileSync("mount", [], { encoding: "utf8" }), /pakashop-testhost\/hosts\/backend/);
        // The host's processes lived in its cgroup; the cgroup is removed only once it is empty.
        assert.ok(!fs.existsSync("/sys/fs/cgroup/unified/pkst-backend") && !fs.existsSync("/sys/fs/cgroup/pkst-backend"), "the host's cgroup is left");
    });

    it("first run: all 19 units active and enabled, every health endpoint answers, nginx proxies the gateway", async () => {
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
        assert.equal((await httpGet(host, 443, "/api/v1/health/ready", "https")).status, 200);
    });

    it("Redis and Meilisearch run on hosts of their own, and the services reach them with the configured credentials", async () => {
        const redis = await stage.redisHost.ssh("systemctl is-active redis-server; systemctl is-enabled redis-server; grep -c '^requirepass ' /etc/redis/pakashop.conf; stat -c %a /etc/redis/pakashop.conf");
        assert.deepEqual(redis.stdout.trim().split("\n"), ["active", "enabled", "1", "640"]);
        const search = await stage.searchHost.ssh("systemctl is-active meilisearch; systemctl is-enabled meilisearch; stat -c %a /etc/meilisearch/env");
        assert.deepEqual(search.stdout.trim().split("\n"), ["active", "enabled", "600"]);
        // From the backend host, with exactly what a service's EnvironmentFile holds.
        const check = await host.ssh(`set -a; . /etc/pakashop/gateway.env; set +a
            stat -c %a /etc/pakashop/gateway.env
            password=\${REDIS_URL#redis://:}; password=\${password%%@*}
            address=\${REDIS_URL##*@}; address=\${address%:*}
            REDISCLI_AUTH=$password redis-cli -h "$address" ping
            redis-cli -h "$address" ping 2>&1 | head -1
            curl -s -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $MEILI_MASTER_KEY" "$MEILI_HOST/version"
            curl -s -o /dev/null -w '%{http_code}\\n' "$MEILI_HOST/version"`);
        assert.equal(check.code, 0, check.stderr);
        assert.deepEqual(check.stdout.trim().split("\n"), ["600", "PONG", "NOAUTH Authentication required.", "200", "401"]);
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

    it("a second run with unchanged inputs executes no remote command", async () => {
        const before = engine.executions.length;
        await deploy(repo.commits.v1);
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
        const run = await deploy(repo.commits.v1);
        const sizes = run.resources.map((r) => ({ name: r.name, bytes: JSON.stringify(unwrapSecrets(r.inputs)).length }));
        const total = sizes.reduce((sum, r) => sum + r.bytes, 0);
        const largest = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a));
        const tarballs = fs.readdirSync(path.join(REPO_ROOT, ".pakashop", "sources")).filter((f) => f.endsWith(".tar"))
            .reduce((sum, f) => sum + fs.statSync(path.join(REPO_ROOT, ".pakashop", "sources", f)).size, 0);
        process.stdout.write(`      recorded inputs: ${run.resources.length} resources, ${(total / 1024).toFixed(1)} KiB in all, largest ${largest.name} ` +
            `${(largest.bytes / 1024).toFixed(1)} KiB; source tarballs in this machine's cache: ${(tarballs / 1024).toFixed(1)} KiB\n`);
        assert.ok(largest.bytes < 64 * 1024, `${largest.name} records ${largest.bytes} bytes of inputs`);
    });

    it("a new revision of one service redeploys that service only; the others keep their PIDs", async () => {
        const pidsBefore = await unitStates(host);
        const before = engine.executions.length;
        await deploy(repo.commits.v1, { [repo.changedService]: { revision: repo.commits.v2 } });
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

    it("runbook: a single-service rollback (services.<id>.revision) puts that service back on its earlier commit and touches nothing else", async () => {
        const pidsBefore = await unitStates(host);
        const before = engine.executions.length;
        await deploy(repo.commits.v1, { [repo.changedService]: { revision: repo.commits.v1 } });
        assert.deepEqual(engine.since(before).map((e) => `${e.action} ${e.name}`), changedServiceSteps(repo.changedService));
        // The earlier release is still on the host: nothing is rebuilt.
        assert.match(engine.since(before)[2].stdout, /release [0-9a-f]{40} already built/);
        const service = CATALOG.services[repo.changedService];
        assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, "v1");
        const pidsAfter = await unitStates(host);
        for (const id of ids.filter((i) => i !== repo.changedService)) assert.equal(pidsAfter[id].pid, pidsBefore[id].pid, `${id} was restarted`);
    });

    it("host drift check: clean after a deploy; a hand-edited unit and a stopped service are exactly what it reports (exit 7)", async () => {
        const { spawnSync } = await import("child_process");
        const drift = () => {
            const result = spawnSync(process.execPath, ["--require", path.join(REPO_ROOT, "tools/register.js"), path.join(REPO_ROOT, "tools/drift.ts"),
                "--stack", "staging", "--host", host.address, "--host-key", host.hostPublicKey, "--user", "root",
                "--identity", path.join(host.dir, "id_ed25519"), "--set", `revision=${repo.commits.v1}`], { encoding: "utf8", cwd: REPO_ROOT });
            return { status: result.status, report: result.stdout ? JSON.parse(result.stdout) : undefined, stderr: result.stderr };
        };
        const clean = drift();
        assert.equal(clean.status, 0, clean.stderr);
        assert.deepEqual({ drift: clean.report.drift, checked: clean.report.checked, findings: clean.report.findings }, { drift: false, checked: 19, findings: [] });

        const edited = "pakashop-tracking.service";
        const edit = await host.ssh(`echo '# edited by hand' >> /etc/systemd/system/${edited} && systemctl daemon-reload && systemctl stop pakashop-fraud.service`);
        assert.equal(edit.code, 0, edit.stderr);
        const dirty = drift();
        assert.equal(dirty.status, 7, dirty.stderr);
        assert.equal(dirty.report.drift, true);
        const findings = dirty.report.findings.map((f: { service: string; field: string; actual: string }) => `${f.service} ${f.field}${f.field === "active" ? ` ${f.actual}` : ""}`);
        assert.deepEqual(findings.sort(), ["fraud active inactive", "tracking unitFile"]);

        const restore = await host.ssh(`sed -i '$d' /etc/systemd/system/${edited} && systemctl daemon-reload && systemctl start pakashop-fraud.service`);
        assert.equal(restore.code, 0, restore.stderr);
        assert.equal(drift().status, 0);
    });

    it("a revision that fails its health gate is rolled back, the step fails with the journal, and later tiers are not touched", async () => {
        const broken = repo.brokenService;
        const later = ids.filter((id) => serviceDependencies(CATALOG, id).includes(broken));
        assert.ok(later.length > 0);
        const pidsBefore = await unitStates(host);
        const before = engine.executions.length;
        await assert.rejects(deploy(repo.commits.broken), (error: unknown) => {
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
        // Back on the release it ran before (v1, after the single-service rollback above).
        assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, "v1");
        for (const id of later) assert.equal(states[id].pid, pidsBefore[id].pid, `${id} was restarted`);
    });

    it("runbook: a code rollback deploys the last good commit to every service, from releases already on the host", async () => {
        const before = engine.executions.length;
        await deploy(repo.commits.v1);
        const ran = engine.since(before).filter((e) => e.action === "replace");
        assert.ok(ran.length > 0);
        for (const execution of ran) assert.doesNotMatch(execution.stdout, /building /, `${execution.name} rebuilt a release`);
        for (const id of ids) {
            const service = CATALOG.services[id];
            assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, "v1", id);
        }
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
        assert.equal((await httpGet(host, 443, "/api/v1/health", "https")).status, 200);
    });

    it("a replaced host (new instance id, nothing deployed on it) gets every step again, and the old steps' deletes leave it alone", async () => {
        // The new machine keeps the Elastic IP and the pinned host key; its disk is a fresh
        // image's: no services, no releases, no sources, no nginx site.
        const wipe = await host.ssh(`systemctl disable --now --quiet $(cd /etc/systemd/system && ls pakashop-*.service)
            rm -rf /etc/systemd/system/pakashop-*.service /opt/pakashop /var/lib/pakashop /etc/pakashop /etc/pakashop-host-id \\
              /etc/nginx/sites-enabled/pakashop /etc/nginx/sites-available/pakashop /etc/nginx/tls
            systemctl daemon-reload`);
        assert.equal(wipe.code, 0, wipe.stderr);
        stage.replaceBackendInstance();
        const before = engine.executions.length;
        await deploy(repo.commits.v1);
        const ran = engine.since(before);
        const replaced = ran.filter((e) => e.action === "replace").map((e) => e.name.replace(/^pakashop-staging-rollout-/, "")).sort();
        assert.deepEqual(replaced, ["bootstrap", "proxy", "ssh-ready", ...ids.map((id) => `${id}-deploy`), ...ids.map((id) => `${id}-source`)].sort());
        const deletes = ran.filter((e) => e.action === "delete" && e.name.endsWith("-deploy"));
        assert.equal(deletes.length, 19);
        for (const d of deletes) assert.match(d.stdout, /it was replaced; nothing to remove/, d.name);
        const states = await unitStates(host);
        for (const id of ids) {
            assert.equal(states[id].active, "active", `${id} is ${states[id].active} on the new host`);
            const service = CATALOG.services[id];
            assert.equal(JSON.parse((await httpGet(host, service.port, service.healthPath)).body).revision, "v1", id);
        }
        assert.equal((await httpGet(host, 443, "/api/v1/health", "https")).status, 200);
    });

    it("destroying the stack disables and removes every service", async () => {
        await engine.deleteUndeclared(true);
        const result = await host.ssh("systemctl list-unit-files 'pakashop-*' --no-legend | wc -l; ls /opt/pakashop/services | wc -l");
        assert.deepEqual(result.stdout.trim().split("\n"), ["0", "0"]);
    });
});
