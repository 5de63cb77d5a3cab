/**
 * The offline plan judges like `pulumi preview` of a new stack: what providers compute on
 * create is unknown (and so is every input built from it), policies see unknowns the way
 * @pulumi/policy shows them, a policy that touches one is reported as advisory, and the
 * policies that must block still block on what a preview knows.
 */
import { strict as assert } from "assert";
import * as path from "path";
import { StackValidationPolicy } from "@pulumi/policy";
import { stackPolicy, UNKNOWN } from "../policy/policyKit";
import { isUnknownValue, mockLoadBalancerDnsName, previewState, UNKNOWN_VALUE } from "../tools/mocks";
import { OfflineRun, PlannedResource, runOffline, unwrapSecrets } from "../tools/offlineRun";
import { checkPolicies, exitCodeFor, loadPackConfig, Violation } from "../tools/policyCheck";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import { exec, planStack } from "./helpers";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const PACK = "pakashop-infra@v0.1.0";
const BUCKET = "pakashop-production-backups-bucket";
const REMOTE_TYPES = ["command:remote:Command", "command:remote:CopyToRemote"];

/** What @pulumi/policy reports for a policy that touched an unknown (server.js). */
const cantRun = (policy: string, property: string) => `can't run policy '${policy}' from policy pack '${PACK}' during preview: string value at .${property} can't be known during preview`;

function find(run: OfflineRun, suffix: string, type?: string): PlannedResource & { inputs: Props } {
    const found = run.resources.filter((r) => r.name.endsWith(suffix) && r.custom && (!type || r.type === type));
    assert.equal(found.length, 1, `one custom resource named *${suffix}`);
    return found[0] as PlannedResource & { inputs: Props };
}

/** Arrays and plain objects copied; anything else (unknowns, assets) shared. */
function copied(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(copied);
    if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copied(v)]));
    }
    return value;
}

/** A copy of a plan whose inputs a case may change (unknowns and secret markers kept). */
function copyOf(run: OfflineRun): OfflineRun {
    return { ...run, resources: run.resources.map((r) => ({ ...r, dependsOn: [...r.dependsOn], inputs: copied(r.inputs) as Props })) };
}

/** Paths of every unknown value inside `value`. */
function unknownPaths(value: unknown, at = ""): string[] {
    if (isUnknownValue(value)) return [at || "."];
    if (Array.isArray(value)) return value.flatMap((v, i) => unknownPaths(v, `${at}[${i}]`));
    if (typeof value === "object" && value !== null) return Object.entries(value).flatMap(([k, v]) => unknownPaths(v, `${at}.${k}`));
    return [];
}

const byPolicy = (violations: Violation[], policy: string) => violations.filter((v) => v.policy === policy).map((v) => [v.enforcementLevel, v.message]);

describe("offline preview: the plan judges like `pulumi preview` of a new stack", function () {
    this.timeout(120_000);
    let preview: OfflineRun;
    before(async () => {
        preview = await runOffline(loadStackConfig("production"), { preview: true });
    });

    describe("the mocks in a preview", () => {
        const created = (type: string, inputs: Props, custom = true) => previewState({ type, name: "x", inputs, custom });

        it("answer a create as the engine does: no id, the inputs echoed, what the provider computes unknown", () => {
            assert.deepEqual(created("aws:ec2/eip:Eip", { domain: "vpc" }), { id: "", state: { domain: "vpc", publicIp: UNKNOWN_VALUE } });
            assert.deepEqual(created("aws:s3/bucket:Bucket", { bucketPrefix: "pakashop-production-backups-" }),
                { id: "", state: { bucketPrefix: "pakashop-production-backups-", bucket: UNKNOWN_VALUE, arn: UNKNOWN_VALUE } });
            const volume = { deviceName: "/dev/sdf", volumeSize: 100, encrypted: true };
            assert.deepEqual(created("aws:ec2/instance:Instance", { instanceType: "t3.large", ebsBlockDevices: [volume] }), {
                id: "", state: {
                    instanceType: "t3.large", privateIp: UNKNOWN_VALUE, publicIp: UNKNOWN_VALUE, arn: UNKNOWN_VALUE,
                    ebsBlockDevices: [{ ...volume, volumeId: UNKNOWN_VALUE }],
                },
            });
            assert.deepEqual(created("aws:rds/instance:Instance", { identifier: "pakashop-production" }).state,
                { identifier: "pakashop-production", address: UNKNOWN_VALUE, endpoint: UNKNOWN_VALUE });
            assert.deepEqual(created("random:index/randomPassword:RandomPassword", { length: 40 }).state, { length: 40, result: UNKNOWN_VALUE });
            assert.deepEqual(created("tls:index/privateKey:PrivateKey", { algorithm: "ED25519" }).state,
                { algorithm: "ED25519", publicKeyOpenssh: UNKNOWN_VALUE, privateKeyOpenssh: UNKNOWN_VALUE, privateKeyPem: UNKNOWN_VALUE });
            assert.deepEqual(created("cloudflare:index/originCaCertificate:OriginCaCertificate", { requestType: "origin-ecc" }).state,
                { requestType: "origin-ecc", certificate: UNKNOWN_VALUE });
            assert.deepEqual(created("command:remote:Command", { create: "true" }).state, { create: "true", stdout: UNKNOWN_VALUE, stderr: UNKNOWN_VALUE });
        });

        it("fill in the autoname the provider's Check gives (known), and leave components alone", () => {
            const group = created("aws:rds/subnetGroup:SubnetGroup", { description: "d" });
            assert.match(String(group.state.name), /^x-[0-9a-f]{7}$/);
            assert.deepEqual(created("aws:rds/subnetGroup:SubnetGroup", { name: "given" }).state, { name: "given" });
            assert.deepEqual(created("pakashop:backups:Backups", { a: 1 }, false), { id: "", state: { a: 1 } });
        });
    });

    it("production has unknowns exactly where a new stack's preview has them", async () => {
        const outputs = preview.outputs;
        assert.deepEqual(Object.keys(outputs).filter((k) => unknownPaths(outputs[k]).length > 0).sort(), [
            "backendHosts", "backendTargetGroupArn", "backupBucket", "backupWriterRoleArn", "databaseEndpoint", "databaseUrl", "deployRoleArn", "instanceConnectEndpointId",
            "loadBalancerDnsName", "meilisearchUrl", "readOnlyRoleArn", "redisAddress", "redisInstanceId", "searchInstanceId", "vpcId",
        ]);
        assert.equal(outputs.branch, "production");
        // The runner's project name is the program's own: known before the first deploy, as the
        // jobs' `runs-on` label needs it.
        assert.equal(outputs.runnerProjectName, "pakashop-production-runner");
        // Each host's key is read from its console once the instance exists: unknown in a preview.
        for (const host of ["backend-1", "backend-2", "cache-host", "search-host"]) {
            const step = preview.resources.find((r) => r.type === "command:local:Command" && r.name === `pakashop-production-${host}-host-key`);
            assert.ok(step, `no host-key step for ${host}`);
            assert.deepEqual(unknownPaths(step.inputs), [".environment.PAKASHOP_INSTANCE_ID", ".triggers[0]"]);
        }
        assert.equal(outputs.frontendUrl, "https://pakashop.store");
        // The load balancer's DNS name reaches the API record; the bucket's ARN makes the whole policy JSON unknown.
        assert.deepEqual(unknownPaths(find(preview, "-edge-api").inputs), [".content"]);
        assert.deepEqual(unknownPaths(find(preview, "-backups-tls-only").inputs), [".bucket", ".policy"]);
        assert.deepEqual(unknownPaths(find(preview, "-backups-bucket").inputs), []);
        assert.equal(find(preview, "-backups-bucket").inputs.bucketPrefix, "pakashop-production-backups-");
        // The generated password is unknown (and stays a secret); the settings around it are known.
        const database = find(preview, "-database-instance", "aws:rds/instance:Instance").inputs;
        assert.ok(unknownPaths(database).includes(".password.value"), unknownPaths(database).join(" "));
        assert.equal(database.storageEncrypted, true);
        // Every remote step's connection is one unknown (@pulumi/command applies over the host's address and key).
        for (const step of preview.resources.filter((r) => REMOTE_TYPES.includes(r.type))) {
            assert.ok(unknownPaths(step.inputs).includes(".connection.value"), `${step.name}: ${unknownPaths(step.inputs).join(" ")}`);
        }
        // Applied mode (the existing tests, the real-host e2e): nothing unknown.
        const applied = await planStack("production");
        assert.deepEqual(applied.resources.flatMap((r) => unknownPaths(r.inputs).map((p) => `${r.name}${p}`)), []);
        assert.deepEqual(unknownPaths(applied.outputs), []);
    });

    it("production passes; only what a new stack can't know is reported, as advisory, as @pulumi/policy does", async () => {
        const violations = await checkPolicies(preview, loadPackConfig("production"));
        assert.equal(exitCodeFor(violations), 0);
        // The branch rule is checked on its own below.
        const others = violations.filter((v) => v.policy !== "pakashop-rollout-enforce-branch");
        const steps = preview.resources.filter((r) => REMOTE_TYPES.includes(r.type));
        // Per backend host (two): bootstrap, proxy, 19 prepares, the switch, the sources copy; then cache and search provisioning.
        assert.equal(steps.length, 2 * (2 + 19 + 1 + 1) + 2, `${steps.length} remote steps`);
        // The trust policies name the OIDC provider's ARN, which this stack creates: unknown. The
        // S3 settings name their bucket by its id, drawn on create: which bucket each applies to is
        // unknown offline (the engine also gives policies property dependencies, which tie them).
        const roles = ["pakashop:ci:GithubAccess$aws:iam/role:Role::pakashop-production-ci-deploy", "pakashop:ci:GithubAccess$aws:iam/role:Role::pakashop-production-ci-read-only",
            "pakashop:backups:Backups$aws:iam/role:Role::pakashop-production-backups-writer"].map((u) => `urn:pulumi:production::pakashop-infra::${u}`);
        const s3 = ["aws-s3-bucket-missing-public-access-block", "aws-s3-bucket-enable-versioning", "aws-s3-bucket-enable-encryption", "aws-s3-bucket-enforce-tls", "aws-s3-bucket-configure-lifecycle"];
        assert.deepEqual(others.map((v) => [v.policy, v.enforcementLevel, v.urn, v.message]), [
            ...roles.map((urn) => ["aws-iam-role-enforce-github-oidc-subject", "advisory", urn, cantRun("aws-iam-role-enforce-github-oidc-subject", "assumeRolePolicy")]),
            // The load balancer names its security group by id, drawn on create: offline, which group
            // it is is unknown (the engine gives policies property dependencies, which tie them).
            ["aws-lb-loadbalancer-configure-cloudflare-only", "advisory", "", cantRun("aws-lb-loadbalancer-configure-cloudflare-only", "securityGroups.0")],
            ...s3.map((policy) => [policy, "advisory", "", cantRun(policy, "bucket")]),
            ...steps.map((s) => ["command-remote-enforce-host-key", "advisory", s.urn, cantRun("command-remote-enforce-host-key", "connection")]),
        ]);
    });

    describe("a broken production plan in preview mode still exits 5", () => {
        async function brokenVerdict(breakIt: (run: OfflineRun) => void): Promise<Violation[]> {
            const broken = copyOf(preview);
            breakIt(broken);
            return checkPolicies(broken, loadPackConfig("production"));
        }

        it("aws-s3-bucket-enforce-tls: a bucket without a TLS-only policy beside it, or with a known document lacking the statement", async () => {
            // The document names the bucket's ARN: unknown as a whole in a new stack's preview.
            assert.ok(isUnknownValue(find(preview, "-backups-tls-only").inputs.policy));
            const missing = await brokenVerdict((r) => r.resources.splice(r.resources.findIndex((x) => x.name.endsWith("-backups-tls-only")), 1));
            assert.deepEqual(byPolicy(missing, "aws-s3-bucket-enforce-tls"), [["mandatory", `bucket ${BUCKET} has no policy denying requests without TLS; add one.`]]);
            assert.equal(exitCodeFor(missing), 5);
            // Known (a preview of the existing stack): the statement itself is judged.
            // (and the bucket it names known: in a new stack's preview it is the bucket's unknown id)
            const allowAll = await brokenVerdict((r) => {
                const policy = find(r, "-backups-tls-only").inputs;
                policy.bucket = "pakashop-production-backups-20260101000000000000000001";
                policy.policy = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${BUCKET}/*` }] });
            });
            assert.deepEqual(byPolicy(allowAll, "aws-s3-bucket-enforce-tls"), [["mandatory", `bucket ${BUCKET} has no policy denying requests without TLS; add one.`]]);
            assert.equal(exitCodeFor(allowAll), 5);
        });

        it("command-remote-disable-secret-logging: stdout logged on a step fed an (unknown) environment on stdin", async () => {
            const violations = await brokenVerdict((r) => {
                const step = find(r, "-rollout-1-switch");
                assert.deepEqual(unknownPaths(step.inputs.stdin), [".value"]);
                step.inputs.logging = "stdoutAndStderr";
            });
            assert.deepEqual(byPolicy(violations, "command-remote-disable-secret-logging"),
                [["mandatory", 'pakashop-production-rollout-1-switch: logging is "stdoutAndStderr" on a command fed secrets on stdin; set it to "stderr" or "none".']]);
            assert.equal(exitCodeFor(violations), 5);
        });

        it("aws-rds-instance-enable-final-snapshot: no final snapshot, while the snapshot's name is unknown", async () => {
            const violations = await brokenVerdict((r) => {
                const database = find(r, "-database-instance", "aws:rds/instance:Instance").inputs;
                assert.ok(isUnknownValue(database.finalSnapshotIdentifier), "the final snapshot's name is generated on create");
                database.skipFinalSnapshot = true;
            });
            assert.deepEqual(byPolicy(violations, "aws-rds-instance-enable-final-snapshot"), [["mandatory", "pakashop-production-database-instance: skipFinalSnapshot is true; take a final snapshot."]]);
            assert.equal(exitCodeFor(violations), 5);
        });

        it("pakashop-rollout-enforce-branch: every prepare step says its branch in plain text, and a wrong one blocks", async () => {
            const deploys = preview.resources.filter((r) => r.type === "command:remote:Command" && r.name.endsWith("-prepare"));
            assert.equal(deploys.length, 2 * 19);
            for (const step of deploys) {
                // triggers[0] (the step's summary) must not be built from anything unknown in a
                // preview (the host's id is): an Output of the whole array would hide it.
                assert.ok(Array.isArray(step.inputs.triggers) && !isUnknownValue(step.inputs.triggers[0]),
                    `${step.name}: triggers[0] is unknown in a preview of a new stack (components/remoteStep.ts stepTriggers)`);
                assert.equal((step.inputs.triggers[0] as Props).branch, "production", step.name);
            }
            assert.deepEqual(byPolicy(await checkPolicies(preview, loadPackConfig("production")), "pakashop-rollout-enforce-branch"), []);
            const violations = await brokenVerdict((r) => ((find(r, "-rollout-1-config-prepare").inputs.triggers as Props[])[0].branch = "main"));
            assert.deepEqual(byPolicy(violations, "pakashop-rollout-enforce-branch"),
                [["mandatory", "pakashop-production-rollout-1-config-prepare deploys branch main; this stack deploys production."]]);
            assert.equal(exitCodeFor(violations), 5);
        });

        it("command-remote-enforce-host-key can't see a new stack's connections: advisory in a preview, blocking with them known", async () => {
            const inPreview = await checkPolicies(preview, loadPackConfig("production"));
            const bootstrap = find(preview, "-rollout-1-bootstrap");
            assert.deepEqual(inPreview.filter((v) => v.urn === bootstrap.urn).map((v) => [v.policy, v.enforcementLevel, v.message]),
                [["command-remote-enforce-host-key", "advisory", cantRun("command-remote-enforce-host-key", "connection")]]);
            // `pulumi up` runs resource policies on each step's inputs, known by then, before the step connects.
            const applied = await planStack("production");
            const broken = { ...applied, resources: applied.resources.map((r) => ({ ...r, inputs: copied(unwrapSecrets(r.inputs)) as Props })) };
            find(broken, "-rollout-1-bootstrap").inputs.connection.hostKey = "";
            const violations = await checkPolicies(broken, loadPackConfig("production"));
            assert.deepEqual(byPolicy(violations, "command-remote-enforce-host-key").map(([level]) => level), ["mandatory"]);
            assert.equal(exitCodeFor(violations), 5);
        });
    });

    describe("policies that touch an unknown", () => {
        it("a stack policy that reads an unknown is reported once, advisory, with @pulumi/policy's message; the exit code stays 0", async () => {
            const reader: StackValidationPolicy = {
                name: "test-reads-bucket-policy", description: "reads an unknown", enforcementLevel: "mandatory",
                validateStack: (args) => {
                    for (const r of args.resources.filter((x) => x.type === "aws:s3/bucketPolicy:BucketPolicy")) JSON.parse(r.props.policy);
                },
            };
            const violations = await checkPolicies(preview, {}, [reader]);
            assert.deepEqual(violations.map((v) => [v.policy, v.enforcementLevel, v.urn, v.message]),
                [["test-reads-bucket-policy", "advisory", "", cantRun("test-reads-bucket-policy", "policy")]]);
            assert.equal(exitCodeFor(violations), 0);
        });

        it("a rule of the kit reports what it judged (mandatory) before the unknown it met (advisory)", async () => {
            const rule = stackPolicy({
                name: "test-judges-known-first", description: "Checks that ...", severity: "high", remediationSteps: "none needed here",
                check: (resources, _config, _args, reads) => resources.filter((r) => r.type === "aws:s3/bucketPolicy:BucketPolicy").flatMap((r) => {
                    const document = reads.known(() => r.props.policy);
                    return [{ urn: r.urn, message: `known: bucket policy ${r.name} exists; document ${document === UNKNOWN ? "unknown" : "known"}` }];
                }),
            });
            const policyUrn = find(preview, "-backups-tls-only").urn;
            const violations = await checkPolicies(preview, {}, [rule]);
            assert.deepEqual(violations.map((v) => [v.enforcementLevel, v.urn, v.message]), [
                ["mandatory", policyUrn, "known: bucket policy pakashop-production-backups-tls-only exists; document unknown"],
                ["advisory", "", cantRun("test-judges-known-first", "policy")],
            ]);
        });
    });

    describe("npm run plan", () => {
        const plan = (...args: string[]) => exec(process.execPath, ["--require", path.join(REPO_ROOT, "tools/register.js"), path.join(REPO_ROOT, "tools/plan.ts"), ...args], { cwd: REPO_ROOT });

        it("runs as a preview by default, and as applied with --mode applied", () => {
            const previewed = plan("--stack", "production", "--format", "json");
            assert.equal(previewed.status, 0, previewed.output);
            const doc = JSON.parse(previewed.output);
            assert.equal(doc.mode, "preview");
            assert.equal(doc.outputs.loadBalancerDnsName, "[unknown]");
            assert.equal(doc.resources.find((r: Props) => r.name.endsWith("-edge-api")).inputs.content, "[unknown]");
            assert.ok(doc.policies.violations.length > 0 && doc.policies.violations.every((v: Props) => v.enforcementLevel === "advisory"));

            const applied = plan("--stack", "production", "--format", "json", "--mode", "applied");
            assert.equal(applied.status, 0, applied.output);
            const appliedDoc = JSON.parse(applied.output);
            assert.equal(appliedDoc.mode, "applied");
            assert.equal(appliedDoc.outputs.loadBalancerDnsName, mockLoadBalancerDnsName("pakashop-production-lb"));
            assert.ok(!applied.output.includes("[unknown]"));

            const usage = plan("--stack", "production", "--mode", "up");
            assert.equal(usage.status, 2);
            assert.match(usage.output, /--mode must be one of preview, applied, not up/);
        });
    });
});
