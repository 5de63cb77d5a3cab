/**
 * The first deploy of a new stack (tools/firstDeploy.ts): the targets bring up the runner, the
 * Instance Connect Endpoint and the GitHub roles with AWS's APIs only, and they are closed: no
 * target refers to a resource outside the targets.
 */
import { strict as assert } from "assert";
import { FIRST_DEPLOY_ENV, isFirstDeploy } from "../components/firstDeployMode";
import { SettingError } from "../components/errors";
import { engineUrn, firstDeployCommand, firstDeployTargets } from "../tools/firstDeploy";
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

        it("prints URNs in the engine's form (no root stack type in the chain)", async () => {
            const run = await foundationRun(stack);
            const command = firstDeployCommand(stack, firstDeployTargets(run.resources));
            assert.deepEqual(command.slice(0, 4), ["pulumi", "up", "--stack", stack]);
            assert.equal(command.filter((part) => part.includes("pulumi:pulumi:Stack")).length, 0);
            assert.ok(command.includes(`urn:pulumi:${stack}::pakashop-infra::pakashop:platform:Platform::pakashop-${stack}`));
            assert.equal(engineUrn("urn:pulumi:s::p::pulumi:pulumi:Stack$a:b:C::n"), "urn:pulumi:s::p::a:b:C::n");
        });
    });
}

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
    it("refuses an unknown stack with exit code 2 and the stacks there are", () => {
        const result = exec("npm", ["run", "-s", "first-deploy", "--", "--stack", "qa"]);
        assert.equal(result.status, 2);
        assert.match(result.output, /--stack qa: no Pulumi\.qa\.yaml here \(stacks: production, staging\)/);
        assert.doesNotMatch(result.output, /\n\s+at /);
    });
});
