/**
 * The backend fleet, run for real: two backend hosts (and the Redis and Meilisearch hosts) on
 * the test network behind HAProxy standing in for the Application Load Balancer, configured
 * from the program's own target group (tests/e2e/loadBalancerStandin.ts), with the program's
 * drain and return steps calling the target group's API through a stand-in that plays it on
 * HAProxy. A bounded load (tools/loadProbe.ts: 4 connections) goes from Cloudflare's position
 * through the load balancer to the gateway's health path while the deploys run, and every
 * failed request (connection error, timeout, non-2xx) is counted. Needs root.
 */
import { strict as assert } from "assert";
import { CATALOG } from "../../components/catalog";
import { CommandFailed, Execution } from "./commandEngine";
import { httpGet, unitStates } from "./hostProbes";
import { sleep, startLoad, underLoad, waitUntilServing, watchServing } from "./load";
import { prepareStage, Stage } from "./stage";
import { TestHost } from "./testHost";

const ids = Object.keys(CATALOG.services);
const STAGE = "fleet";
const SEGMENT_INDEX = 35;
const rollout = (n: number) => `pakashop-staging-rollout-${n}`;

/** The revision marker every service's health body reports on `host`. */
async function revisions(host: TestHost): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const id of ids) {
        const service = CATALOG.services[id];
        const response = await httpGet(host, service.port, service.healthPath);
        out[id] = response.status === 200 ? JSON.parse(response.body).revision : `HTTP ${response.status}`;
    }
    return out;
}

const all = (marker: string) => Object.fromEntries(ids.map((id) => [id, marker]));

/** When each named step ended, for order checks. */
function endOf(executions: readonly Execution[], name: string): Execution {
    const found = executions.filter((e) => e.name === name && e.action !== "delete");
    assert.equal(found.length, 1, `${name} ran ${found.length} times: ${executions.map((e) => `${e.action} ${e.name}`).join(", ")}`);
    return found[0];
}

describe("backend fleet behind the load balancer (e2e)", function () {
    this.timeout(30 * 60_000);
    let stage: Stage;

    before(async () => {
        stage = await prepareStage(STAGE, SEGMENT_INDEX, { backendHosts: 2, healthTimeoutSeconds: 20 });
        await stage.deploy(stage.repo.commits.v1);
    });

    after(async () => {
        await stage?.teardown();
    });

    it("the first deploy puts both hosts in the target group, one after the other, and the load balancer sends requests to both", async () => {
        const ran = stage.engine.executions;
        // Host 2 is taken in only after host 1 is healthy in the target group.
        assert.ok(endOf(ran, `${rollout(1)}-return`).endedMs <= endOf(ran, `${rollout(2)}-drain`).startedMs);
        const servers = await stage.loadBalancer.servers();
        assert.deepEqual(Object.values(servers).map((s) => `${s.name} ${s.serving}`).sort(), ["h1 true", "h2 true"]);
        for (const host of stage.hosts) assert.deepEqual(await revisions(host), all("v1"), host.name);
        assert.equal((stage.outputs.backendHosts as unknown[]).length, 2);
    });

    it("a rolling upgrade of all 19 services on both hosts under load: 0 failed requests, one host out of the target group at a time", async () => {
        const before = stage.engine.executions.length;
        const watch = watchServing(stage);
        const { load, seconds, error } = await underLoad(stage, () => stage.deploy(stage.repo.commits.v3));
        const serving = await watch.stop();
        console.log(`      rolling upgrade: ${seconds.toFixed(1)} s, ${load.requests} requests, ${load.failed} failed; targets in service: ${serving.changes.join(" | ")}`);
        assert.equal(error, undefined, String(error));
        assert.equal(load.failed, 0, `failed requests: ${JSON.stringify(load)}`);
        assert.ok(load.requests > 100, `too little load to tell: ${JSON.stringify(load)}`);
        // Never fewer than N-1 = 1 hosts in service, and each host was out once.
        assert.equal(serving.fewest, 1, serving.changes.join("\n"));
        const ran = stage.engine.since(before);
        const order = [1, 2].flatMap((n) => ["drain", "switch", "return"].map((step) => endOf(ran, `${rollout(n)}-${step}`)));
        for (let i = 1; i < order.length; i++) assert.ok(order[i - 1].endedMs <= order[i].startedMs, `${order[i - 1].name} ended after ${order[i].name} started`);
        // Phase 1 on both hosts before any host left the target group.
        const prepares = ran.filter((e) => e.name.endsWith("-prepare") && e.action === "replace");
        assert.equal(prepares.length, 38);
        const firstDrain = endOf(ran, `${rollout(1)}-drain`);
        for (const p of prepares) assert.ok(p.endedMs <= firstDrain.startedMs, `${p.name} ended after the first drain began`);
        assert.match(firstDrain.stdout, /drained i-[0-9a-f]+ in \d+ s/);
        for (const host of stage.hosts) assert.deepEqual(await revisions(host), all("v3"), host.name);
    });

    it("a revision that fails its gate on the first host: 0 failed requests, host 1 back on its previous release, host 2 untouched; the next good deploy puts host 1 back", async () => {
        const { repo, engine } = stage;
        const [first, second] = stage.hosts;
        const secondBefore = await unitStates(second);
        const before = engine.executions.length;
        stage.release({ revision: repo.commits.v3 });
        stage.release({ service: repo.brokenService, revision: repo.commits.broken });
        const watch = watchServing(stage);
        const { load, error } = await underLoad(stage, () => stage.deployFromFile());
        const serving = await watch.stop();
        console.log(`      failed gate: ${load.requests} requests, ${load.failed} failed; targets in service: ${serving.changes.join(" | ")}`);
        assert.ok(error instanceof CommandFailed, String(error));
        assert.equal(error.execution.name, `${rollout(1)}-switch`);
        assert.match(error.execution.stdout, new RegExp(`${repo.brokenService}: rolled back to releases/[0-9a-f]{20}; active again`));
        assert.equal(load.failed, 0, `failed requests: ${JSON.stringify(load)}`);
        assert.equal(serving.fewest, 1);
        const ran = engine.since(before).map((e) => `${e.action} ${e.name}`);
        // Host 2: its new release prepared (phase 1 is harmless), but never drained or switched.
        for (const step of ["drain", "switch", "return"]) assert.ok(!ran.some((r) => r.endsWith(`${rollout(2)}-${step}`)), `host 2's ${step} ran: ${ran.join(", ")}`);
        assert.ok(!ran.some((r) => r.endsWith(`${rollout(1)}-return`)), "host 1 was put back although its switch failed");
        assert.deepEqual(await revisions(first), all("v3"), "host 1 is not on its previous release");
        const secondAfter = await unitStates(second);
        for (const id of ids) assert.equal(secondAfter[id].pid, secondBefore[id].pid, `${id} restarted on host 2`);
        // Host 1 stays out of the target group until a deploy puts it back; host 2 serves alone.
        assert.deepEqual(Object.values(await stage.loadBalancer.servers()).map((s) => `${s.name} ${s.serving}`).sort(), ["h1 false", "h2 true"]);

        // The fix: the manifest back on the good revision. Host 1's switch has nothing to change,
        // but the return step follows every drain, so host 1 goes back in; host 2 is not touched.
        stage.release({ service: repo.brokenService, clear: true });
        const fixed = engine.executions.length;
        await stage.deployFromFile();
        const fix = engine.since(fixed).map((e) => `${e.action} ${e.name}`);
        assert.ok(fix.includes(`replace ${rollout(1)}-return`), fix.join(", "));
        for (const step of ["drain", "switch", "return"]) assert.ok(!fix.some((r) => r.endsWith(`${rollout(2)}-${step}`)), `host 2's ${step} ran: ${fix.join(", ")}`);
        assert.deepEqual(Object.values(await stage.loadBalancer.servers()).map((s) => `${s.name} ${s.serving}`).sort(), ["h1 true", "h2 true"]);
    });

    it("one host powered off under load: the failed requests are counted, the fleet serves from the other host, and the host rejoins after its boot", async () => {
        const [first, second] = stage.hosts;
        const { intervalSeconds, unhealthyThreshold, healthyThreshold } = stage.loadBalancer.settings.healthCheck;
        const load = startLoad(stage);
        await sleep(1500);
        await second.poweroff();
        // The load balancer takes the host out after `unhealthyThreshold` failed checks.
        const detection = (unhealthyThreshold + 1) * intervalSeconds * 1000;
        await sleep(detection);
        const duringOutage = await load.stop();
        assert.deepEqual(Object.values(await stage.loadBalancer.servers()).map((s) => `${s.name} ${s.serving}`).sort(), ["h1 true", "h2 false"]);
        // Once it is out, the other host serves everything.
        const afterDetection = await underLoad(stage, () => sleep(5000), 0);
        console.log(`      host 2 powered off: ${duringOutage.failed} of ${duringOutage.requests} requests failed until the load balancer took it out ` +
            `(${unhealthyThreshold} checks every ${intervalSeconds} s); then ${afterDetection.load.failed} of ${afterDetection.load.requests} on host 1 alone`);
        assert.equal(afterDetection.load.failed, 0);
        assert.ok(afterDetection.load.requests > 50);

        await second.bootAgain();
        // Still registered: the load balancer takes it back after `healthyThreshold` good checks.
        await waitUntilServing(stage, "h2", 120_000 + healthyThreshold * intervalSeconds * 1000);
        assert.deepEqual(await revisions(second), all("v3"));
        assert.deepEqual(await revisions(first), all("v3"));
    });
});
