/**
 * A rollout behind the load balancer (components/serviceRollout.ts, `traffic`): two hosts'
 * `ServiceRollout`s built directly under Pulumi's mocks (not through the whole program, so the
 * steps' wiring is checked whatever the fleet around them looks like). Asserted: exact
 * `dependsOn` (a host's drain after its own prepares and proxy, the infrastructure and the
 * previous host's return; its switch after its drain; its return after its switch), exact
 * triggers and environment, and that the drain and return re-run exactly when the switch does.
 * Without `traffic`, the rollout registers what it registered before.
 */
import { strict as assert } from "assert";
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { CATALOG } from "../components/catalog";
import { renderDrainScript, renderRetireCreateScript, renderRetireScript, renderReturnScript } from "../components/scripts/targetGroup";
import { renderProxyScript } from "../host/proxy";
import { ServiceRollout, TRAFFIC_TIMING } from "../components/serviceRollout";
import { ServiceSource } from "../components/sources";
import { TARGET_GROUP } from "../components/targetGroupSettings";
import { releaseIdOf } from "../host/prepare/prepareScript";
import { renderEnvironmentFile, renderSwitchScript } from "../host/switch/switchScript";
import { isSecretValue, unwrapSecrets } from "../tools/offlineRun";
import { MOCK_HOST_PUBLIC_KEY, RecordingMocks } from "../tools/mocks";

const ARN = "arn:aws:elasticloadbalancing:ap-south-1:123456789012:targetgroup/pakashop-test-backend-tg/0123456789abcdef";
const REGION = "ap-south-1";
const HOSTS = ["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"];
const ENVIRONMENT = { DATABASE_URL: "postgres://pakashop:secret0password@db.internal:5432/pakashop?sslmode=require" };
const serviceIds = Object.keys(CATALOG.services);

interface Recorded {
    readonly type: string;
    readonly name: string;
    readonly dependsOn: string[];
    readonly inputs: Record<string, unknown>;
}

/** Stands in for the data tier (section 3.2 step 1) the first service tier waits for. */
class Infrastructure extends pulumi.CustomResource {
    constructor(name: string) {
        super("test:index:Infrastructure", name, {});
    }
}

/** Sources at one tree per service (a changed tree is what a commit touching that folder makes). */
function sourcesAt(trees: Record<string, string>): Record<string, ServiceSource> {
    return Object.fromEntries(serviceIds.map((id) => [id, {
        serviceId: id, revision: "1".repeat(40), tree: trees[id] ?? "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        sha256: createHash("sha256").update(`${id}:${trees[id] ?? ""}`).digest("hex"), file: `/nonexistent/${id}.tar`, packed: true,
    }]));
}

/** Two hosts' rollouts (the second with `traffic.after` = the first's return), or one without traffic. */
async function build(options: { traffic: boolean; trees?: Record<string, string>; environment?: Record<string, string>; originTls?: { certificate: string; key: string } }): Promise<Recorded[]> {
    const mocks = new RecordingMocks();
    await pulumi.runtime.setMocks(mocks, "pakashop-infra", "test", false);
    const recorded: { resource: pulumi.Resource; type: string; name: string; dependsOn: pulumi.Resource[] }[] = [];
    try {
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                const deps = args.opts.dependsOn;
                recorded.push({ resource: args.resource, type: args.type, name: args.name, dependsOn: Array.isArray(deps) ? deps as pulumi.Resource[] : [] });
                return undefined;
            });
            const sources = sourcesAt(options.trees ?? {});
            const infrastructure = new Infrastructure("infrastructure");
            let previous: pulumi.Resource[] = [];
            HOSTS.forEach((hostId, i) => {
                const rollout = new ServiceRollout(`pakashop-test-rollout-${i + 1}`, {
                    stack: "test", host: `10.0.${i}.10`, hostId, hostKey: MOCK_HOST_PUBLIC_KEY, sshUser: "admin",
                    privateKey: pulumi.secret("not-a-key"), catalog: CATALOG, sources,
                    sourceBundle: { digest: "d".repeat(64), archive: new pulumi.asset.FileArchive("incoming") },
                    branch: "main", healthTimeoutSeconds: 90, infrastructure: [infrastructure],
                    environment: pulumi.secret(options.environment ?? ENVIRONMENT),
                    originTls: options.originTls,
                    traffic: options.traffic ? { targetGroupArn: ARN, region: REGION, after: previous, fleetSize: HOSTS.length } : undefined,
                });
                previous = rollout.returnStep ? [rollout.returnStep] : [];
            });
            return {};
        });
    } finally {
        await pulumi.runtime.disconnect();
    }
    const names = new Map(recorded.map((r) => [r.resource, r.name]));
    return recorded.map((r) => ({
        type: r.type, name: r.name,
        dependsOn: r.dependsOn.map((d) => names.get(d) ?? "?").sort(),
        inputs: mocks.registrations.find((x) => x.type === r.type && x.name === r.name)?.inputs ?? {},
    }));
}

function named(run: Recorded[], name: string): Recorded {
    const found = run.filter((r) => r.name === name);
    assert.equal(found.length, 1, `one resource named ${name}`);
    return found[0];
}

/**
 * The digest, computed here from its definition: sha256 of the switch script, the proxy script,
 * the proxy's TLS bundle (none here) and the environment file, each followed by a NUL.
 */
function expectedDigest(trees: Record<string, string> = {}, environment = ENVIRONMENT): string {
    const sources = sourcesAt(trees);
    const releases = Object.fromEntries(serviceIds.map((id) => [id, releaseIdOf(CATALOG.services[id], sources[id].tree)]));
    const script = renderSwitchScript(CATALOG, releases, { healthTimeoutSeconds: 90 });
    const parts = [script, renderProxyScript(CATALOG, false), "", renderEnvironmentFile({ ...environment, PAKASHOP_ENVIRONMENT: "test" })];
    return createHash("sha256").update(parts.map((p) => `${p}\0`).join("")).digest("hex");
}

describe("traffic steps: a host's switch between drain and return", function () {
    this.timeout(120_000);
    let run: Recorded[];
    before(async () => {
        run = await build({ traffic: true });
    });

    it("each host's drain waits for its bootstrap, every prepare step, the infrastructure and the previous host's return", () => {
        for (const n of [1, 2]) {
            const host = `pakashop-test-rollout-${n}`;
            const expected = [`${host}-bootstrap`, ...serviceIds.map((id) => `${host}-${id}-prepare`), "infrastructure",
                ...(n === 2 ? ["pakashop-test-rollout-1-return"] : [])].sort();
            assert.deepEqual(named(run, `${host}-drain`).dependsOn, expected, host);
        }
    });

    it("nginx's site and health check (the proxy step) and the switch run inside the drained window; the return and the retire step after the switch", () => {
        for (const n of [1, 2]) {
            const host = `pakashop-test-rollout-${n}`;
            assert.deepEqual(named(run, `${host}-proxy`).dependsOn, [`${host}-bootstrap`, `${host}-drain`]);
            assert.deepEqual(named(run, `${host}-switch`).dependsOn,
                [`${host}-bootstrap`, ...serviceIds.map((id) => `${host}-${id}-prepare`), "infrastructure", `${host}-drain`, `${host}-proxy`].sort());
            assert.deepEqual(named(run, `${host}-return`).dependsOn, [`${host}-switch`]);
            assert.deepEqual(named(run, `${host}-retire`).dependsOn, [`${host}-switch`]);
        }
    });

    it("the retire step does nothing on create and drains the host on delete; it is replaced with its host only", () => {
        HOSTS.forEach((hostId, i) => {
            const retire = named(run, `pakashop-test-rollout-${i + 1}-retire`);
            assert.equal(retire.inputs.create, renderRetireCreateScript());
            assert.equal(retire.inputs.delete, renderRetireScript());
            assert.deepEqual(unwrapSecrets(retire.inputs.triggers), [{ step: "retire" }, "host", hostId]);
        });
    });

    it("a new origin certificate (the proxy step's standard input) re-runs the drain: nginx reloads only with its host out of the group", async () => {
        const tls = (n: number) => ({ certificate: `-----BEGIN CERTIFICATE-----\ncert${n}\n-----END CERTIFICATE-----`, key: `-----BEGIN PRIVATE KEY-----\nkey${n}\n-----END PRIVATE KEY-----` });
        // One after the other: the mocks are the process's one Pulumi runtime.
        const first = await build({ traffic: true, originTls: tls(1) });
        const again = await build({ traffic: true, originTls: tls(1) });
        const rotated = await build({ traffic: true, originTls: tls(2) });
        const drain = (r: Recorded[]) => JSON.stringify(unwrapSecrets(named(r, "pakashop-test-rollout-1-drain").inputs.triggers));
        assert.equal(drain(again), drain(first));
        assert.notEqual(drain(rotated), drain(first));
        assert.equal(named(rotated, "pakashop-test-rollout-1-switch").inputs.create, named(first, "pakashop-test-rollout-1-switch").inputs.create);
    });

    it("drain and return run the rendered scripts with the target group's environment (no secret in it); the drain re-runs on [step, switch digest, host], the return on [step, the drain's output, host]", () => {
        HOSTS.forEach((hostId, i) => {
            for (const [step, script] of [["drain", renderDrainScript()], ["return", renderReturnScript()]] as const) {
                const resource = named(run, `pakashop-test-rollout-${i + 1}-${step}`);
                assert.equal(resource.type, "command:local:Command");
                assert.equal(resource.inputs.create, script);
                assert.deepEqual(resource.inputs.interpreter, ["/bin/bash", "-c"]);
                assert.equal(resource.inputs.addPreviousOutputInEnv, false);
                assert.deepEqual(resource.inputs.environment, {
                    PAKASHOP_TARGET_GROUP_ARN: ARN, PAKASHOP_INSTANCE_ID: hostId, PAKASHOP_REGION: REGION, PAKASHOP_TARGET_PORT: "443",
                    PAKASHOP_DRAIN_WAIT_SECONDS: String(TARGET_GROUP.deregistrationDelaySeconds + 60),
                    PAKASHOP_HEALTHY_WAIT_SECONDS: String(TARGET_GROUP.healthCheck.healthyThreshold * TARGET_GROUP.healthCheck.intervalSeconds + 120),
                    PAKASHOP_POLL_SECONDS: "2", PAKASHOP_FLEET_SIZE: "2",
                });
                const triggers = unwrapSecrets(resource.inputs.triggers) as unknown[];
                assert.equal(triggers.length, 3);
                assert.deepEqual(triggers[0], { step });
                assert.equal(triggers[2], hostId);
                if (step === "drain") {
                    // The digest hashes credentials, so it is a secret, and the SDK sends the whole
                    // property as one: a preview shows these triggers as [secret].
                    assert.ok(isSecretValue(resource.inputs.triggers), "the triggers hold a secret");
                    assert.equal(triggers[1], expectedDigest());
                } else {
                    // The drain's output (the mocks answer a local step's stdout with ""); every
                    // real run of the drain prints a new run token, so a return follows every drain.
                    assert.ok(!isSecretValue(resource.inputs.triggers));
                    assert.equal(triggers[1], "");
                }
            }
        });
        assert.deepEqual(TRAFFIC_TIMING, { drainWaitSeconds: 90, healthyWaitSeconds: 130, pollSeconds: 2 });
    });

    it("one service's new release changes every host's switch digest (the drain runs again, and the return after it); an unchanged run changes nothing", async () => {
        const again = await build({ traffic: true });
        const changed = await build({ traffic: true, trees: { search: "0123456789abcdef0123456789abcdef01234567" } });
        const triggersOf = (r: Recorded[], name: string) => JSON.stringify(unwrapSecrets(named(r, name).inputs.triggers));
        for (const n of [1, 2]) {
            for (const step of ["drain"]) {
                const name = `pakashop-test-rollout-${n}-${step}`;
                assert.equal(triggersOf(again, name), triggersOf(run, name), `${name}: unchanged inputs, same triggers`);
                assert.notEqual(triggersOf(changed, name), triggersOf(run, name), `${name}: a new release must re-run it`);
                assert.equal((unwrapSecrets(named(changed, name).inputs.triggers) as unknown[])[1],
                    expectedDigest({ search: "0123456789abcdef0123456789abcdef01234567" }));
            }
            // The switch itself runs again (its script names the new release), and keeps its triggers.
            const sw = `pakashop-test-rollout-${n}-switch`;
            assert.notEqual(JSON.stringify(named(changed, sw).inputs.create), JSON.stringify(named(run, sw).inputs.create));
            assert.equal(triggersOf(changed, sw), triggersOf(run, sw));
        }
        // A new credential reaches the host on the switch's stdin: drain and return follow it.
        const rotated = await build({ traffic: true, environment: { DATABASE_URL: "postgres://pakashop:other0password@db.internal:5432/pakashop?sslmode=require" } });
        assert.notEqual(triggersOf(rotated, "pakashop-test-rollout-1-drain"), triggersOf(run, "pakashop-test-rollout-1-drain"));
    });

    it("without traffic: no drain or return step, and the switch waits for what it waited for before", async () => {
        const plain = await build({ traffic: false });
        assert.deepEqual(plain.filter((r) => /-(drain|return)$/.test(r.name)), []);
        const host = "pakashop-test-rollout-2";
        assert.deepEqual(named(plain, `${host}-switch`).dependsOn,
            [`${host}-bootstrap`, ...serviceIds.map((id) => `${host}-${id}-prepare`), "infrastructure"].sort());
        assert.deepEqual(plain.filter((r) => r.name.startsWith(`${host}-`)).map((r) => r.name).sort(),
            [`${host}-bootstrap`, `${host}-proxy`, `${host}-sources`, `${host}-ssh-ready`, `${host}-switch`, ...serviceIds.map((id) => `${host}-${id}-prepare`)].sort());
        // With traffic, exactly the three steps more per host.
        assert.equal(run.length - plain.length, 3 * HOSTS.length);
    });
});
