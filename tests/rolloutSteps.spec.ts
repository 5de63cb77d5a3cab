/**
 * What a first real `pulumi up` needs of the rollout steps (issue "Survive the first real
 * `pulumi up`"): a reviewer can read every deploy step, a replaced host gets everything again,
 * another architecture means another host, the Elastic IP waits for the internet gateway.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CATALOG, unitName } from "../components/catalog";
import { isSecretValue, OfflineRun, PlannedResource, runOffline, unwrapSecrets } from "../tools/offlineRun";
import { MOCK_PRIVATE_IP } from "../tools/mocks";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import { byType, planStack } from "./helpers";

const NS = "pakashop-infra";
const serviceIds = Object.keys(CATALOG.services);

function named(run: OfflineRun, suffix: string): PlannedResource {
    const found = run.resources.filter((r) => r.name.endsWith(suffix));
    assert.equal(found.length, 1, `one resource named *${suffix}`);
    return found[0];
}

/** A run where every EC2 instance gets the id `<name>-<generation>`, as a re-image would. */
async function runWithInstanceIds(stack: string, generation: string): Promise<OfflineRun> {
    return runOffline(loadStackConfig(stack), {
        hook: async (args) => (args.type === "aws:ec2/instance:Instance"
            ? { id: `${args.name}-${generation}`, state: { ...args.inputs, privateIp: MOCK_PRIVATE_IP, publicIp: "", ebsBlockDevices: [] } }
            : undefined),
    });
}

describe("rollout steps: what a reviewer sees", () => {
    for (const stack of ["staging", "production"]) {
        it(`${stack}: every deploy step's script and triggers are plain text naming its service, unit, port and revision; only the environment is secret`, async () => {
            const run = await planStack(stack);
            const revision = loadStackConfig(stack).config[`${NS}:revision`];
            for (const id of serviceIds) {
                const step = named(run, `-rollout-${id}-deploy`);
                assert.ok(!isSecretValue(step.inputs.create), `${step.name}: create must not be secret`);
                assert.ok(!isSecretValue(step.inputs.triggers), `${step.name}: triggers must not be secret`);
                const triggers = step.inputs.triggers as unknown[];
                assert.ok(triggers.every((t) => !isSecretValue(t)), `${step.name}: no trigger may be secret`);
                const summary = triggers[0] as Record<string, unknown>;
                assert.equal(summary.service, id);
                assert.equal(summary.unit, unitName(id));
                assert.equal(summary.port, CATALOG.services[id].port);
                assert.equal(summary.revision, revision);
                const create = String(step.inputs.create);
                assert.match(create, new RegExp(`unit='${unitName(id)}'`));
                assert.match(create, new RegExp(`revision='${revision}'`));
                assert.match(create, new RegExp(`health_url='http://127\\.0\\.0\\.1:${CATALOG.services[id].port}/`));
                assert.ok(isSecretValue(step.inputs.stdin), `${step.name}: the environment file must stay secret`);
            }
        });
    }

    it("`npm run plan -- --stack production --format json` shows every deploy step's unit, port and revision, and no secret value", () => {
        const result = spawnSync(process.execPath, ["--require", "./tools/register.js", "tools/plan.ts", "--stack", "production", "--format", "json"],
            { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
        assert.equal(result.status, 0, result.stderr);
        const plan = JSON.parse(result.stdout) as { resources: { name: string; inputs: Record<string, unknown> }[] };
        const revision = loadStackConfig("production").config[`${NS}:revision`];
        for (const id of serviceIds) {
            const step = plan.resources.find((r) => r.name === `pakashop-production-rollout-${id}-deploy`);
            assert.ok(step, `no deploy step for ${id}`);
            assert.notEqual(step.inputs.create, "[secret]");
            const summary = (step.inputs.triggers as Record<string, unknown>[])[0];
            assert.deepEqual([summary.unit, summary.port, summary.revision], [unitName(id), CATALOG.services[id].port, revision]);
            assert.equal(step.inputs.stdin, "[secret]");
        }
        assert.ok(!result.stdout.includes("mockpassword"), "a generated password leaked into the plan");
        assert.doesNotMatch(result.stdout, /PRIVATE KEY-----(\\n|\n)[A-Za-z0-9+/]/);
    });
});

describe("rollout steps: a new credential re-runs the deploys without replacing them", () => {
    it("a rotated password changes only the deploys' secret stdin: their scripts and triggers stay, so the engine updates (re-runs) them and deletes nothing", async () => {
        const withPassword = (password: string) => runOffline(loadStackConfig("staging"), {
            hook: async (args) => (args.type === "random:index/randomPassword:RandomPassword" && args.name.endsWith("-database-password")
                ? { id: args.name, state: { ...args.inputs, result: password } } : undefined),
        });
        const before = await withPassword("first0password0with0enough0entropy0");
        const after = await withPassword("second0password0with0enough0entropy");
        for (const id of serviceIds) {
            const [a, b] = [named(before, `-rollout-${id}-deploy`), named(after, `-rollout-${id}-deploy`)];
            assert.deepEqual(unwrapSecrets(b.inputs.create), unwrapSecrets(a.inputs.create), id);
            assert.deepEqual(unwrapSecrets(b.inputs.triggers), unwrapSecrets(a.inputs.triggers), `${id}: a trigger change would replace the step`);
            assert.notEqual(unwrapSecrets(b.inputs.stdin), unwrapSecrets(a.inputs.stdin), `${id}: the new password must reach the host`);
        }
    });
});

describe("rollout steps: a replaced host comes up with everything", () => {
    it("a new instance id (re-image, new subnet, new user data) changes every step on that host, and only those", async () => {
        const before = await runWithInstanceIds("staging", "i-first");
        const after = await runWithInstanceIds("staging", "i-second");
        const triggersOf = (run: OfflineRun, name: string) => JSON.stringify(unwrapSecrets(run.resources.find((r) => r.name === name)?.inputs.triggers));
        const local = byType(before, "command:local:Command").map((r) => r.name);
        // The backend's ssh-ready check, and the host-key step of each of the three hosts (it
        // reads the new instance's console: a new instance has a new key).
        assert.deepEqual(local.sort(), ["pakashop-staging-backend-host-key", "pakashop-staging-cache-host-host-key",
            "pakashop-staging-rollout-ssh-ready", "pakashop-staging-search-host-host-key"]);
        const steps = [...byType(before, "command:remote:Command"), ...byType(before, "command:remote:CopyToRemote")].map((r) => r.name).concat(local);
        // bootstrap, proxy, 19 deploys, cache and search provisioning; 19 source copies; 4 local steps.
        assert.equal(steps.length, 2 + 19 + 2 + 19 + 4);
        for (const name of steps) {
            assert.notEqual(triggersOf(before, name), triggersOf(after, name), `${name} would not run again on a new host`);
        }
        for (const host of ["backend", "cache-host", "search-host"]) {
            const instance = `pakashop-staging-${host}-instance`;
            assert.deepEqual(JSON.parse(triggersOf(after, `pakashop-staging-${host}-host-key`)), [`${instance}-i-second`]);
        }
        // Nothing else changes its inputs but the Elastic IP's `instance` (the address moves to
        // the new host): a new host re-runs its steps and changes nothing else around it.
        const changed = before.resources.filter((r) => !steps.includes(r.name))
            .filter((r) => JSON.stringify(unwrapSecrets(r.inputs)) !== JSON.stringify(unwrapSecrets(after.resources.find((x) => x.urn === r.urn)?.inputs)))
            .map((r) => r.name);
        assert.deepEqual(changed, ["pakashop-staging-backend-eip"]);
        assert.equal(after.resources.find((r) => r.name === "pakashop-staging-backend-eip")?.inputs.instance, "pakashop-staging-backend-instance-i-second");
        // The same instance id again: nothing re-runs.
        const again = await runWithInstanceIds("staging", "i-first");
        for (const name of steps) assert.equal(triggersOf(before, name), triggersOf(again, name), name);
    });

    it("an instance type of another architecture makes a new host from that architecture's image, never an in-place change", async () => {
        const x86 = await planStack("staging");
        const arm = await planStack("staging", { [`${NS}:instanceType`]: "t4g.large" });
        assert.ok(x86.resources.some((r) => r.name === "pakashop-staging-backend-instance"));
        const armInstance = named(arm, "-backend-instance-arm64");
        assert.equal(armInstance.inputs.instanceType, "t4g.large");
        assert.ok(!arm.resources.some((r) => r.name === "pakashop-staging-backend-instance"), "the x86_64 instance must go, not change in place");
        // Every rollout step follows the new host: its triggers hold the new instance's id.
        const bootstrap = unwrapSecrets(named(arm, "-rollout-bootstrap").inputs.triggers) as unknown[];
        assert.equal(bootstrap[1], "pakashop-staging-backend-instance-arm64-id");
    });

    it("the backend's Elastic IP waits for the internet gateway", async () => {
        const run = await planStack("production");
        const eip = named(run, "-backend-eip");
        const igw = named(run, "-network-igw");
        assert.ok(eip.dependsOn.includes(igw.urn), `dependsOn: ${eip.dependsOn.join(", ")}`);
    });
});

describe("rollout steps: sources travel as files, not text", () => {
    it("each service's sources are a FileAsset copied to the host before its deploy, and no input of any resource is large", async () => {
        const run = await planStack("production");
        for (const id of serviceIds) {
            const copy = named(run, `-rollout-${id}-source`);
            assert.equal(copy.type, "command:remote:CopyToRemote");
            assert.equal(copy.inputs.remotePath, `/var/lib/pakashop/incoming/${id}.tar`);
            const source = copy.inputs.source;
            assert.ok(source instanceof pulumi.asset.FileAsset, `${copy.name}: source must be a FileAsset (recorded by hash, not content)`);
            assert.equal(path.basename(await source.path), `${id}-${loadStackConfig("production").config[`${NS}:revision`]}.tar`);
            assert.ok(named(run, `-rollout-${id}-deploy`).dependsOn.includes(copy.urn));
        }
        const sizes = run.resources.map((r) => JSON.stringify(unwrapSecrets(r.inputs)).length);
        assert.ok(Math.max(...sizes) < 64 * 1024, `largest recorded inputs: ${Math.max(...sizes)} bytes`);
    });
});
