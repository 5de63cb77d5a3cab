/**
 * The rollout's steps as the engine gets them: a reviewer can read every step, phase 1
 * (sources, prepare) waits for no tier, phase 2 (the host's switch) waits for every prepared
 * release, a release is named by its service folder's content (a new commit that leaves a folder
 * alone changes none of that service's inputs), a replaced host gets everything again, another
 * architecture means another host, no backend host has an Elastic IP. Every backend host has a
 * rollout of its own (`<name>-rollout-<n>-...`); single-host checks look at host 1.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CATALOG } from "../components/catalog";
import { rolloutWaves } from "../components/rollout";
import { UNPACKED } from "../components/sources";
import { readSwitchPlan } from "../host/switch/switchScript";
import { isSecretValue, OfflineRun, PlannedResource, runOffline, unwrapSecrets } from "../tools/offlineRun";
import { MOCK_PRIVATE_IP } from "../tools/mocks";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import { createReleaseRepository, ReleaseRepository } from "./e2e/fixture";
import { byType, planStack } from "./helpers";

const NS = "pakashop-infra";
const serviceIds = Object.keys(CATALOG.services);
/** Backend hosts per committed stack (Pulumi.<stack>.yaml `backendHosts`). */
const FLEET: Record<string, number> = { staging: 1, production: 2 };
const ordinals = (count: number) => Array.from({ length: count }, (_, i) => i + 1);

function named(run: OfflineRun, suffix: string): PlannedResource {
    const found = run.resources.filter((r) => r.name.endsWith(suffix));
    assert.equal(found.length, 1, `one resource named *${suffix}`);
    return found[0];
}

/** A step's first trigger: the plain facts it shows a reviewer. */
const summaryOf = (step: PlannedResource) => (unwrapSecrets(step.inputs.triggers) as Record<string, unknown>[])[0];
/** The inputs of a resource, secrets unwrapped, as one comparable string. */
const inputsOf = (step: PlannedResource | undefined) => JSON.stringify(unwrapSecrets(step?.inputs));

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
        it(`${stack}: prepare steps and the switch are plain text naming service, release and branch; only the switch's environment is secret`, async () => {
            const run = await planStack(stack);
            const branch = loadStackConfig(stack).config[`${NS}:branch`];
            for (const n of ordinals(FLEET[stack])) {
            const switchStep = named(run, `-rollout-${n}-switch`);
            const plan = readSwitchPlan(String(switchStep.inputs.create));
            assert.ok(plan, "the switch carries its plan");
            // The tiers of section 3.2 in order, each with its services.
            assert.deepEqual(plan.tiers.map((t) => [t.tier, Object.keys(t.services).sort()]),
                rolloutWaves(CATALOG).map((w) => [w.tier.id, [...w.serviceIds].sort()]));
            for (const id of serviceIds) {
                const step = named(run, `-rollout-${n}-${id}-prepare`);
                assert.ok(!isSecretValue(step.inputs.create), `${step.name}: create must not be secret`);
                assert.ok((step.inputs.triggers as unknown[]).every((t) => !isSecretValue(t)), `${step.name}: no trigger may be secret`);
                assert.equal(step.inputs.stdin, undefined, `${step.name}: a prepare step gets no secret`);
                const summary = summaryOf(step);
                assert.deepEqual([summary.service, summary.branch, summary.tree, summary.sources], [id, branch, UNPACKED, UNPACKED]);
                assert.match(String(summary.release), /^[0-9a-f]{20}$/);
                // The switch restarts the service onto exactly the release its prepare step builds.
                const tier: { services: Record<string, string> } | undefined = plan.tiers.find((t) => t.tier === CATALOG.services[id].tier);
                assert.equal(tier?.services[id], summary.release, id);
                assert.ok(String(step.inputs.create).includes(String(summary.release)), `${step.name}: its script names its release`);
            }
            assert.ok(isSecretValue(switchStep.inputs.stdin), "the environment file must stay secret");
            // The switch's triggers never change but with its host: a changed trigger would replace
            // it, and the old copy's delete removes every service (components/serviceRollout.ts).
            assert.deepEqual(unwrapSecrets(switchStep.inputs.triggers), [{ step: "switch" }, `pakashop-${stack}-backend-${n}-instance-id`]);
            }
        });
    }

    it("`npm run plan -- --stack production --format json` shows every prepare step's release and the switch plan, and no secret value; without a clone it says what it could not know", () => {
        const result = spawnSync(process.execPath, ["--require", "./tools/register.js", "tools/plan.ts", "--stack", "production", "--format", "json"],
            { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env: { ...process.env, PAKASHOP_SERVICES_REPO: "" } });
        assert.equal(result.status, 0, result.stderr);
        const plan = JSON.parse(result.stdout) as { resources: { name: string; inputs: Record<string, unknown> }[]; rollout: { waves: string[][]; unknownWithoutSources: string[] } };
        for (const n of ordinals(FLEET.production)) {
            for (const id of serviceIds) {
                const step = plan.resources.find((r) => r.name === `pakashop-production-rollout-${n}-${id}-prepare`);
                assert.ok(step, `no prepare step for ${id} on host ${n}`);
                assert.notEqual(step.inputs.create, "[secret]");
                assert.equal((step.inputs.triggers as Record<string, unknown>[])[0].service, id);
            }
            const switchStep = plan.resources.find((r) => r.name === `pakashop-production-rollout-${n}-switch`);
            assert.equal(switchStep?.inputs.stdin, "[secret]");
        }
        assert.deepEqual(plan.rollout.waves, rolloutWaves(CATALOG).map((w) => [...w.serviceIds]));
        assert.equal(plan.rollout.unknownWithoutSources.length, 3);
        assert.match(plan.rollout.unknownWithoutSources[0], /which services changed/);
        assert.ok(!result.stdout.includes("mockpassword"), "a generated password leaked into the plan");
        assert.doesNotMatch(result.stdout, /PRIVATE KEY-----(\\n|\n)[A-Za-z0-9+/]/);
        // The text format says it in words.
        const text = spawnSync(process.execPath, ["--require", "./tools/register.js", "tools/plan.ts", "--stack", "production"],
            { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env: { ...process.env, PAKASHOP_SERVICES_REPO: "" } });
        assert.match(text.stdout, /Without a clone of the services monorepo \(set PAKASHOP_SERVICES_REPO to one that has the stack's branch\), this plan could not know:\n {2}- which services changed/);
    });
});

describe("rollout steps: phase 1 waits for no tier, phase 2 for every release", () => {
    it("each prepare step waits for the bootstrap and its own sources only; the switch waits for every prepare step and the infrastructure tier", async () => {
        const run = await planStack("staging");
        const urnOf = (suffix: string) => named(run, suffix).urn;
        for (const id of serviceIds) {
            assert.deepEqual(named(run, `-rollout-1-${id}-prepare`).dependsOn.sort(), [urnOf("-rollout-1-bootstrap"), urnOf("-rollout-1-sources")].sort(), id);
        }
        assert.deepEqual(named(run, "-rollout-1-sources").dependsOn, [urnOf("-rollout-1-bootstrap")]);
        const waitsFor = named(run, "-rollout-1-switch").dependsOn;
        for (const id of serviceIds) assert.ok(waitsFor.includes(urnOf(`-rollout-1-${id}-prepare`)), `the switch does not wait for ${id}'s release`);
        // ... and for its host to be out of the load balancer.
        assert.ok(waitsFor.includes(urnOf("-rollout-1-drain")), "the switch waits for the drain");
        // Section 3.2 step 1: Redis, PostgreSQL and Meilisearch come before any service restarts.
        const infrastructure = run.resources.filter((r) => waitsFor.includes(r.urn)).map((r) => r.type).sort();
        for (const type of ["aws:rds/instance:Instance", "command:remote:Command"]) assert.ok(infrastructure.includes(type), `${type} missing among ${infrastructure.join(", ")}`);
        assert.ok(waitsFor.some((urn) => urn.endsWith("-cache-provision")) && waitsFor.some((urn) => urn.endsWith("-search-provision")),
            `the switch waits for ${waitsFor.map((u) => u.slice(u.lastIndexOf("::") + 2)).join(", ")}`);
    });
});

describe("rollout steps: a release is named by its content, not by the commit", function () {
    this.timeout(120_000);
    let dir: string;
    let repo: ReleaseRepository;
    const runAt = (revision: string, overrides: Record<string, unknown> = {}) =>
        runOffline(loadStackConfig("staging", { [`${NS}:revision`]: revision, ...overrides }), { servicesRepository: repo.path });

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-releases-"));
        repo = await createReleaseRepository(path.join(dir, "monorepo"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("a commit that changes one service's folder changes the sources copy, that service's prepare step and its release in the switch, and nothing else the rollout runs", async () => {
        const [v1, v2] = [await runAt(repo.commits.v1), await runAt(repo.commits.v2)];
        const changed = repo.changedService;
        for (const id of serviceIds) {
            const step = `-rollout-1-${id}-prepare`;
            const same = inputsOf(named(v1, step)) === inputsOf(named(v2, step));
            assert.equal(same, id !== changed, `${step}: ${same ? "unchanged" : "changed"}`);
        }
        assert.notEqual(inputsOf(named(v1, "-rollout-1-sources")), inputsOf(named(v2, "-rollout-1-sources")), "the new sources are copied");
        const [before, after] = [named(v1, "-rollout-1-switch"), named(v2, "-rollout-1-switch")];
        // The switch's triggers stay: a new release updates it (it runs again) and never replaces it.
        assert.equal(JSON.stringify(unwrapSecrets(before.inputs.triggers)), JSON.stringify(unwrapSecrets(after.inputs.triggers)));
        const [planBefore, planAfter] = [readSwitchPlan(String(before.inputs.create)), readSwitchPlan(String(after.inputs.create))];
        const releasesOf = (plan: typeof planBefore) => Object.assign({}, ...(plan?.tiers ?? []).map((t) => t.services)) as Record<string, string>;
        const differing = serviceIds.filter((id) => releasesOf(planBefore)[id] !== releasesOf(planAfter)[id]);
        assert.deepEqual(differing, [changed]);
        assert.equal(summaryOf(named(v2, `-rollout-1-${changed}-prepare`)).release, releasesOf(planAfter)[changed]);
        // The monorepo commit itself shows in no rollout input; the stack output records it.
        for (const r of v2.resources.filter((r) => r.name.includes("-rollout-"))) assert.ok(!inputsOf(r).includes(repo.commits.v2), `${r.name} holds the commit`);
        // Every other resource of the stack is untouched by the new commit.
        const others = v1.resources.filter((r) => !r.name.includes("-rollout-")).filter((r) => inputsOf(r) !== inputsOf(v2.resources.find((x) => x.urn === r.urn)));
        assert.deepEqual(others.map((r) => r.name), []);
    });

    it("the same content at another commit is the same release; a pin back to the first commit is the first release again", async () => {
        const v1 = await runAt(repo.commits.v1);
        // Pinning the changed service back to v1 while the rest moves to v2: every step as at v1.
        const pinned = await runAt(repo.commits.v2, { [`${NS}:services`]: { [repo.changedService]: { revision: repo.commits.v1 } } });
        for (const r of v1.resources.filter((r) => /-rollout-\d+-(.*-prepare|sources|switch|drain|return)$/.test(r.name))) {
            assert.equal(inputsOf(r), inputsOf(pinned.resources.find((x) => x.urn === r.urn)), r.name);
        }
        // Negative: the changed service at v2 really is another release (the check above can fail).
        const v2 = await runAt(repo.commits.v2);
        assert.notEqual(summaryOf(named(v2, `-rollout-1-${repo.changedService}-prepare`)).release, summaryOf(named(v1, `-rollout-1-${repo.changedService}-prepare`)).release);
    });
});

describe("rollout steps: a new credential re-runs the switch without replacing it", () => {
    it("a rotated password changes only the switch's secret stdin: its script and triggers stay (the engine updates it), and no prepare step changes", async () => {
        const withPassword = (password: string) => runOffline(loadStackConfig("staging"), {
            hook: async (args) => (args.type === "random:index/randomPassword:RandomPassword" && args.name.endsWith("-database-password")
                ? { id: args.name, state: { ...args.inputs, result: password } } : undefined),
        });
        const before = await withPassword("first0password0with0enough0entropy0");
        const after = await withPassword("second0password0with0enough0entropy");
        const [a, b] = [named(before, "-rollout-1-switch"), named(after, "-rollout-1-switch")];
        assert.deepEqual(unwrapSecrets(b.inputs.create), unwrapSecrets(a.inputs.create));
        assert.deepEqual(unwrapSecrets(b.inputs.triggers), unwrapSecrets(a.inputs.triggers), "a trigger change would replace the switch");
        assert.notEqual(unwrapSecrets(b.inputs.stdin), unwrapSecrets(a.inputs.stdin), "the new password must reach the host");
        for (const id of serviceIds) assert.equal(inputsOf(named(before, `-rollout-1-${id}-prepare`)), inputsOf(named(after, `-rollout-1-${id}-prepare`)), id);
        // The drain before the switch runs again with it (its trigger digests the switch's input).
        assert.notEqual(JSON.stringify(unwrapSecrets(named(before, "-rollout-1-drain").inputs.triggers)),
            JSON.stringify(unwrapSecrets(named(after, "-rollout-1-drain").inputs.triggers)));
    });
});

describe("rollout steps: a replaced host comes up with everything", () => {
    it("a new instance id (re-image, new subnet, new user data) changes every step on that host, and only those", async () => {
        const before = await runWithInstanceIds("staging", "i-first");
        const after = await runWithInstanceIds("staging", "i-second");
        const triggersOf = (run: OfflineRun, name: string) => JSON.stringify(unwrapSecrets(run.resources.find((r) => r.name === name)?.inputs.triggers));
        const local = byType(before, "command:local:Command").map((r) => r.name);
        // The backend's ssh-ready check, drain, return and retire, and the host-key step of each of
        // the three hosts (it reads the new instance's console: a new instance has a new key).
        assert.deepEqual(local.sort(), ["pakashop-staging-backend-1-host-key", "pakashop-staging-cache-host-host-key",
            "pakashop-staging-rollout-1-drain", "pakashop-staging-rollout-1-retire", "pakashop-staging-rollout-1-return", "pakashop-staging-rollout-1-ssh-ready",
            "pakashop-staging-search-host-host-key"]);
        const steps = [...byType(before, "command:remote:Command"), ...byType(before, "command:remote:CopyToRemote")].map((r) => r.name).concat(local);
        // bootstrap, proxy, 19 prepares, the switch, cache and search provisioning; the sources copy; 7 local steps.
        assert.equal(steps.length, 2 + 19 + 1 + 2 + 1 + 7);
        for (const name of steps) {
            assert.notEqual(triggersOf(before, name), triggersOf(after, name), `${name} would not run again on a new host`);
        }
        for (const host of ["backend-1", "cache-host", "search-host"]) {
            const instance = `pakashop-staging-${host}-instance`;
            assert.deepEqual(JSON.parse(triggersOf(after, `pakashop-staging-${host}-host-key`)), [`${instance}-i-second`]);
        }
        // Nothing else changes its inputs but the target group attachment's `targetId` (the new
        // host is registered) and the switch's delete (it knows the host it may clean up).
        const changed = before.resources.filter((r) => !steps.includes(r.name) || r.name.endsWith("-rollout-1-switch"))
            .filter((r) => {
                const other = after.resources.find((x) => x.urn === r.urn);
                const strip = (inputs: unknown) => JSON.stringify({ ...(unwrapSecrets(inputs) as object), triggers: undefined });
                return strip(r.inputs) !== strip(other?.inputs);
            })
            .map((r) => r.name);
        assert.deepEqual(changed.sort(), ["pakashop-staging-backend-1-tg", "pakashop-staging-rollout-1-switch"]);
        assert.match(String(unwrapSecrets(named(after, "-rollout-1-switch").inputs.delete)), /i-second/);
        assert.equal(after.resources.find((r) => r.name === "pakashop-staging-backend-1-tg")?.inputs.targetId, "pakashop-staging-backend-1-instance-i-second");
        // The same instance id again: nothing re-runs.
        const again = await runWithInstanceIds("staging", "i-first");
        for (const name of steps) assert.equal(triggersOf(before, name), triggersOf(again, name), name);
    });

    it("an instance type of another architecture makes a new host from that architecture's image, never an in-place change", async () => {
        const x86 = await planStack("staging");
        const arm = await planStack("staging", { [`${NS}:instanceType`]: "t4g.large" });
        assert.ok(x86.resources.some((r) => r.name === "pakashop-staging-backend-1-instance"));
        const armInstance = named(arm, "-backend-1-instance-arm64");
        assert.equal(armInstance.inputs.instanceType, "t4g.large");
        assert.ok(!arm.resources.some((r) => r.name === "pakashop-staging-backend-1-instance"), "the x86_64 instance must go, not change in place");
        // Every rollout step follows the new host: its triggers hold the new instance's id.
        const bootstrap = unwrapSecrets(named(arm, "-rollout-1-bootstrap").inputs.triggers) as unknown[];
        assert.equal(bootstrap[1], "pakashop-staging-backend-1-instance-arm64-id");
    });

    it("no backend host has an Elastic IP (they have no public address); the NAT gateways wait for the internet gateway", async () => {
        const run = await planStack("production");
        const igw = named(run, "-network-igw");
        const eips = byType(run, "aws:ec2/eip:Eip");
        assert.deepEqual(eips.map((r) => r.name), ["pakashop-production-network-nat-0", "pakashop-production-network-nat-1"]);
        assert.ok(eips.every((r) => r.inputs.instance === undefined));
        for (const nat of byType(run, "aws:ec2/natGateway:NatGateway")) assert.ok(nat.dependsOn.includes(igw.urn), `${nat.name} dependsOn: ${nat.dependsOn.join(", ")}`);
    });
});

describe("rollout steps: sources travel as files, not text", () => {
    it("the 19 tarballs are one FileArchive folder (relative to the project, named by their checksums), copied in one step before any prepare step, and no input of any resource is large", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-bundle-"));
        try {
            const repo = await createReleaseRepository(path.join(dir, "monorepo"));
            const run = await runOffline(loadStackConfig("production", { [`${NS}:revision`]: repo.commits.v1 }), { servicesRepository: repo.path });
            const copies = byType(run, "command:remote:CopyToRemote");
            // One copy per backend host, of the same folder.
            assert.deepEqual(copies.map((c) => c.name), ["pakashop-production-rollout-1-sources", "pakashop-production-rollout-2-sources"]);
            assert.equal(await (copies[1].inputs.source as pulumi.asset.FileArchive).path, await (copies[0].inputs.source as pulumi.asset.FileArchive).path);
            const copy = copies[0];
            // CopyToRemote puts a folder d at <remotePath>/d: the tarballs land in the incoming folder.
            assert.equal(copy.inputs.remotePath, "/var/lib/pakashop");
            const source = copy.inputs.source;
            assert.ok(source instanceof pulumi.asset.FileArchive, `${copy.name}: source must be a FileArchive (recorded by hash, not content)`);
            const folder = await source.path;
            assert.ok(!path.isAbsolute(folder), `${folder}: a path relative to the project stays the same on every machine`);
            assert.equal(path.basename(folder), "incoming");
            assert.deepEqual(fs.readdirSync(path.join(REPO_ROOT, folder)).sort(), serviceIds.map((id) => `${id}.tar`).sort());
            for (const id of serviceIds) assert.ok(named(run, `-rollout-1-${id}-prepare`).dependsOn.includes(copy.urn));
            // The same sources again: the same folder.
            const again = await runOffline(loadStackConfig("production", { [`${NS}:revision`]: repo.commits.v1 }), { servicesRepository: repo.path });
            assert.equal(await (named(again, "-rollout-1-sources").inputs.source as pulumi.asset.FileArchive).path, folder);
            const sizes = run.resources.map((r) => JSON.stringify(unwrapSecrets(r.inputs)).length);
            assert.ok(Math.max(...sizes) < 64 * 1024, `largest recorded inputs: ${Math.max(...sizes)} bytes`);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
