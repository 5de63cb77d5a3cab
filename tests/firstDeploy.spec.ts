/**
 * The first deploy of a new stack (tools/firstDeploy.ts): the targets bring up the runner, the
 * Instance Connect Endpoint and the GitHub roles with AWS's APIs only, and they are closed: no
 * target refers to a resource outside the targets.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FIRST_DEPLOY_ENV, isFirstDeploy } from "../components/firstDeployMode";
import { SettingError } from "../components/errors";
import { engineUrns, firstDeployCommand, firstDeployTargets } from "../tools/firstDeploy";
import { OfflineRun, PlannedResource, runOffline } from "../tools/offlineRun";
import { loadStackConfig } from "../tools/stackConfig";
import { exec, planStack } from "./helpers";

/** The program in first-deploy mode, applied; a services repository that doesn't exist proves nothing is packed. */
function foundationRun(stack: string): Promise<OfflineRun> {
    return runOffline(loadStackConfig(stack), { firstDeploy: true, servicesRepository: "/nonexistent/services-monorepo" });
}

/** Every string in `value` (any depth). */
function strings(value: unknown): string[] {
    if (typeof value === "string") return [value];
    if (Array.isArray(value)) return value.flatMap(strings);
    if (value && typeof value === "object") return Object.values(value).flatMap(strings);
    return [];
}

/**
 * Resources a target refers to but that are not targets. In an applied offline run every id
 * is `<resource name>-id`, so a reference shows up as that string in the inputs.
 */
function unresolved(resources: readonly PlannedResource[], targets: readonly string[]): string[] {
    const chosen = new Set(targets);
    const idOf = new Map(resources.filter((r) => r.custom).map((r) => [`${r.name}-id`, r]));
    const missing = new Set<string>();
    for (const r of resources.filter((x) => chosen.has(x.urn))) {
        for (const text of strings(r.inputs)) {
            const referenced = idOf.get(text);
            if (referenced && !chosen.has(referenced.urn)) missing.add(`${r.name} -> ${referenced.name}`);
        }
        for (const dep of r.dependsOn) if (!chosen.has(dep)) missing.add(`${r.name} -> ${dep}`);
        if (r.parent && !chosen.has(r.parent) && !r.parent.includes("pulumi:pulumi:Stack::")) missing.add(`${r.name} -> parent ${r.parent}`);
    }
    return [...missing];
}

for (const stack of ["staging", "production"]) {
    describe(`first deploy of a new ${stack} stack (npm run first-deploy)`, function () {
        this.timeout(120_000);

        it("targets the runner, the endpoint, the roles and the network they need, and nothing that needs SSH, Cloudflare or Vercel", async () => {
            const run = await foundationRun(stack);
            const targets = firstDeployTargets(run.resources);
            const types = new Set(run.resources.filter((r) => targets.includes(r.urn)).map((r) => r.type));
            for (const needed of ["aws:codebuild/project:Project", "aws:codebuild/webhook:Webhook", "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint",
                "aws:iam/role:Role", "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws:ec2/vpc:Vpc", "aws:ec2/natGateway:NatGateway"]) {
                assert.ok(types.has(needed), `${needed} is a target`);
            }
            for (const type of types) assert.doesNotMatch(type, /^(command|cloudflare|vercel|tls|random):|ec2\/instance:Instance|rds\//, type);
        });

        it("the targets are closed: every reference, dependency and parent of a target is a target (and the check sees a gap)", async () => {
            const run = await foundationRun(stack);
            const targets = firstDeployTargets(run.resources);
            assert.deepEqual(unresolved(run.resources, targets), []);
            const withoutVpc = targets.filter((urn) => !urn.endsWith(`::pakashop-${stack}-network-vpc`));
            assert.ok(unresolved(run.resources, withoutVpc).some((line) => line.endsWith(`-> pakashop-${stack}-network-vpc`)));
        });

        it("first-deploy mode registers exactly the targets, each as the full deploy will (same URN, type, parent, inputs)", async () => {
            const foundation = await foundationRun(stack);
            const full = await planStack(stack);
            const targets = firstDeployTargets(foundation.resources);
            assert.deepEqual(foundation.resources.map((r) => r.urn).filter((urn) => !urn.includes("::pulumi:pulumi:Stack::")).sort(), [...targets].sort());
            const inFull = new Map(full.resources.map((r) => [r.urn, r]));
            for (const r of foundation.resources) {
                const later = inFull.get(r.urn);
                assert.ok(later, `${r.urn} exists in the full deploy`);
                assert.deepEqual([later.type, later.parent, later.inputs], [r.type, r.parent, r.inputs], r.urn);
            }
            // Its outputs: what the one-time setup needs next, and nothing of the tiers.
            assert.deepEqual(Object.keys(foundation.outputs).sort(), ["branch", "deployRoleArn", "instanceConnectEndpointId", "readOnlyRoleArn", "runnerProjectName", "vpcId"]);
        });

        it("prints URNs in the engine's form: the whole chain of parent types, no root stack type", async () => {
            const run = await foundationRun(stack);
            const command = firstDeployCommand(stack, firstDeployTargets(run.resources), run.resources);
            assert.deepEqual(command.slice(0, 4), ["pulumi", "up", "--stack", stack]);
            assert.equal(command.filter((part) => part.includes("pulumi:pulumi:Stack")).length, 0);
            assert.ok(command.includes(`urn:pulumi:${stack}::pakashop-infra::pakashop:platform:Platform::pakashop-${stack}`));
            assert.ok(command.includes(`urn:pulumi:${stack}::pakashop-infra::pakashop:platform:Platform$pakashop:network:Network$aws:ec2/vpc:Vpc::pakashop-${stack}-network-vpc`));
            assert.ok(command.includes(`urn:pulumi:${stack}::pakashop-infra::pakashop:platform:Platform$pakashop:ci:DeployRunner$aws:codebuild/project:Project::pakashop-${stack}-runner-project`));
        });
    });
}

describe("engine URNs are rebuilt from the parents as the SDK's createUrn builds them", () => {
    it("matches @pulumi/pulumi createUrn for a nested resource (the mock monitor's URN keeps only the last parent type)", async () => {
        const resources = [
            { urn: "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", type: "pulumi:pulumi:Stack", name: "p-s", parent: null },
            { urn: "urn:pulumi:s::p::pulumi:pulumi:Stack$a:b:Outer::outer", type: "a:b:Outer", name: "outer", parent: "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s" },
            { urn: "urn:pulumi:s::p::a:b:Outer$a:b:Inner::inner", type: "a:b:Inner", name: "inner", parent: "urn:pulumi:s::p::pulumi:pulumi:Stack$a:b:Outer::outer" },
            { urn: "urn:pulumi:s::p::a:b:Inner$aws:s3/bucket:Bucket::b", type: "aws:s3/bucket:Bucket", name: "b", parent: "urn:pulumi:s::p::a:b:Outer$a:b:Inner::inner" },
        ].map((r) => ({ ...r, custom: true, dependsOn: [], inputs: {} }));
        const urns = engineUrns(resources);
        assert.equal(urns.get(resources[3].urn), "urn:pulumi:s::p::a:b:Outer$a:b:Inner$aws:s3/bucket:Bucket::b");
        assert.equal(urns.get(resources[1].urn), "urn:pulumi:s::p::a:b:Outer::outer");
    });
});

describe("first-deploy mode is asked for by naming the stack", () => {
    it("is off without the variable, on when it names the stack, and stops when it names another", () => {
        assert.equal(isFirstDeploy("staging", {}), false);
        assert.equal(isFirstDeploy("staging", { [FIRST_DEPLOY_ENV]: "" }), false);
        assert.equal(isFirstDeploy("staging", { [FIRST_DEPLOY_ENV]: "staging" }), true);
        assert.throws(() => isFirstDeploy("production", { [FIRST_DEPLOY_ENV]: "staging" }),
            (e: Error) => e instanceof SettingError && e.setting === FIRST_DEPLOY_ENV && /another stack than production/.test(e.message));
    });
});

describe("npm run first-deploy (command line)", function () {
    this.timeout(120_000);

    /** Runs the tool with a stand-in `pulumi` that answers `stack output` with `outputs` and records `up`. */
    function withStandInPulumi(outputs: string): { status: number; output: string; up: string } {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "first-deploy-"));
        try {
            fs.writeFileSync(path.join(dir, "pulumi"), `#!/bin/bash
if [[ $1 == stack && $2 == output ]]; then printf '%s' '${outputs}'; exit 0; fi
if [[ $1 == up ]]; then printf '%s\n' "FIRST_DEPLOY=$PAKASHOP_FIRST_DEPLOY" "$@" > "${dir}/up"; exit 0; fi
exit 9
`, { mode: 0o755 });
            const result = spawnSync("npm", ["run", "-s", "first-deploy", "--", "--stack", "staging", "--run"], {
                encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
            });
            const up = fs.existsSync(path.join(dir, "up")) ? fs.readFileSync(path.join(dir, "up"), "utf8") : "";
            return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}`, up };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    it("--run on a new stack runs pulumi up with the mode set for that stack and a --target per foundation resource", () => {
        const result = withStandInPulumi("{}");
        assert.equal(result.status, 0, result.output);
        const lines = result.up.trim().split("\n");
        assert.equal(lines[0], "FIRST_DEPLOY=staging");
        assert.deepEqual(lines.slice(1, 4), ["up", "--stack", "staging"]);
        assert.ok(lines.includes("urn:pulumi:staging::pakashop-infra::pakashop:platform:Platform$pakashop:ci:DeployRunner$aws:codebuild/project:Project::pakashop-staging-runner-project"), result.up);
    });

    it("--run finishes a first deploy that stopped half-way (foundation outputs only)", () => {
        const result = withStandInPulumi('{"vpcId":"vpc-1","deployRoleArn":"arn:aws:iam::1:role/x"}');
        assert.equal(result.status, 0, result.output);
        assert.match(result.up, /^FIRST_DEPLOY=staging\nup\n/);
    });

    it("--run refuses a stack that has had a full deploy, and runs nothing", () => {
        const result = withStandInPulumi('{"vpcId":"vpc-1","rolloutWaves":[["config"]]}');
        assert.equal(result.status, 1);
        assert.match(result.output, /error: stack staging has had a full deploy \(it has outputs rolloutWaves\)/);
        assert.equal(result.up, "");
        assert.doesNotMatch(result.output, /\n\s+at /);
    });
    it("refuses an unknown stack with exit code 2 and the stacks there are", () => {
        const result = exec("npm", ["run", "-s", "first-deploy", "--", "--stack", "qa"]);
        assert.equal(result.status, 2);
        assert.match(result.output, /--stack qa: no Pulumi\.qa\.yaml here \(stacks: production, staging\)/);
        assert.doesNotMatch(result.output, /\n\s+at /);
    });
});
