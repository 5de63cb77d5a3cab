/**
 * GitHub's OIDC provider is an account-wide singleton that IAM must have before it accepts a
 * trust policy naming it. Each committed stack lives in its own AWS account (issue 10), so each
 * creates its account's provider. These run the real program and check: in a stack that creates
 * the provider every trusting role is ordered after it; a stack set not to create it (a further
 * stack in an account that already has one) trusts the lookup's ARN; either stack can be the
 * first in a fresh account; a missing provider fails with the fix.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { GET_OIDC_PROVIDER_TOKEN, GITHUB_OIDC_HOST } from "../components/githubAccess";
import { CONFIG_NAMESPACE, STACK_BRANCHES } from "../components/settings";
import { OfflineRun, PlannedResource } from "../tools/offlineRun";
import { MOCK_ACCOUNT_ID, RecordingMocks } from "../tools/mocks";
import { REPO_ROOT } from "../tools/stackConfig";
import { byType, planStack } from "./helpers";

const PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider";
const CREATE = `${CONFIG_NAMESPACE}:createGithubOidcProvider`;
/** The ARN the mocked provider resource gets (tools/mocks.ts). */
const CREATED_ARN = `arn:aws:iam::${MOCK_ACCOUNT_ID}:oidc-provider/${GITHUB_OIDC_HOST}`;
/** An ARN only a lookup can return: another account id than getCallerIdentity's. */
const LOOKED_UP_ARN = `arn:aws:iam::210987654321:oidc-provider/${GITHUB_OIDC_HOST}`;

/** Every role whose trust policy names a federated principal, with that principal. */
function trustingRoles(run: OfflineRun): { role: PlannedResource; federated: unknown }[] {
    return byType(run, "aws:iam/role:Role").flatMap((role) => {
        const policy = JSON.parse(String(role.inputs.assumeRolePolicy));
        const statements = (policy.Statement as { Principal?: { Federated?: unknown } }[]).filter((s) => s.Principal && "Federated" in s.Principal);
        return statements.map((s) => ({ role, federated: s.Principal?.Federated }));
    });
}

type Call = (this: RecordingMocks, args: pulumi.runtime.MockCallArgs) => Record<string, unknown>;

/** Runs a plan with the mocks' answer to the provider lookup replaced. */
async function withLookup<T>(answer: (args: pulumi.runtime.MockCallArgs) => Record<string, unknown>, body: () => Promise<T>): Promise<{ result: T; lookups: number }> {
    const original: Call = RecordingMocks.prototype.call;
    let lookups = 0;
    RecordingMocks.prototype.call = function (this: RecordingMocks, args: pulumi.runtime.MockCallArgs) {
        if (args.token !== GET_OIDC_PROVIDER_TOKEN) return original.call(this, args);
        lookups++;
        return answer(args);
    };
    try {
        return { result: await body(), lookups };
    } finally {
        RecordingMocks.prototype.call = original;
    }
}

const found = () => ({ id: LOOKED_UP_ARN, arn: LOOKED_UP_ARN, url: GITHUB_OIDC_HOST, clientIdLists: ["sts.amazonaws.com"], thumbprintLists: [], tags: {} });
/** What the provider answers when the account has no such provider (terraform-provider-aws: retry.NotFoundError). */
const absent = (): Record<string, unknown> => {
    // The SDK rebuilds an invoke's error from the gRPC status details, as the engine sends them.
    const details = `reading IAM OIDC Provider (https://${GITHUB_OIDC_HOST}): couldn't find resource`;
    throw Object.assign(new Error(details), { details });
};

function assertCreatesAndOrders(run: OfflineRun): void {
    const providers = byType(run, PROVIDER);
    assert.equal(providers.length, 1, "the stack that creates the provider declares it once");
    assert.equal(providers[0].inputs.url, `https://${GITHUB_OIDC_HOST}`);
    const roles = trustingRoles(run);
    assert.deepEqual(roles.map((r) => r.role.name.replace(`pakashop-${run.stack}-`, "")).sort(), ["backups-writer", "ci-deploy", "ci-read-only"]);
    for (const { role, federated } of roles) {
        assert.ok(role.dependsOn.includes(providers[0].urn), `${role.name} must be created after the OIDC provider (dependsOn: ${JSON.stringify(role.dependsOn)})`);
        assert.equal(federated, CREATED_ARN, `${role.name} trusts the provider resource's own arn output`);
    }
}

/** The committed stack file's config map. */
function committedConfig(stack: string): Record<string, unknown> {
    return YAML.parse(fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`), "utf8")).config ?? {};
}

describe("GitHub OIDC provider: creation order and either stack first", () => {
    it("each committed stack has an AWS account of its own, so each creates that account's provider", () => {
        const stacks = Object.keys(STACK_BRANCHES);
        assert.deepEqual(stacks, ["staging", "production"]);
        const accounts = stacks.map((stack) => committedConfig(stack)["aws:allowedAccountIds"]);
        for (const [i, ids] of accounts.entries()) {
            assert.ok(Array.isArray(ids) && ids.length === 1 && /^\d{12}$/.test(String(ids[0])),
                `Pulumi.${stacks[i]}.yaml: aws:allowedAccountIds must name exactly one 12-digit account, not ${JSON.stringify(ids)}`);
        }
        assert.equal(new Set(accounts.map((ids) => String((ids as unknown[])[0]))).size, stacks.length, `the stacks share an account: ${JSON.stringify(accounts)}`);
        assert.deepEqual(stacks.filter((stack) => committedConfig(stack)[CREATE] === true), ["staging", "production"]);
    });

    for (const stack of ["staging", "production"]) {
        it(`${stack}, as committed, creates the provider, never looks it up, and every role trusting it depends on it and names its arn output`, async () => {
            // An empty override map: a fresh run (not the cached one), with the committed settings.
            const { result: run, lookups } = await withLookup(absent, () => planStack(stack, {}));
            assertCreatesAndOrders(run);
            assert.equal(lookups, 0, "the creating stack never looks the provider up");
        });
    }

    it("a stack set not to create it (override false) trusts the ARN the lookup returns (not one built from the account id)", async () => {
        const { result: run, lookups } = await withLookup(found, () => planStack("staging", { [CREATE]: false }));
        assert.equal(byType(run, PROVIDER).length, 0);
        assert.equal(lookups, 1, "one lookup for the whole stack");
        const roles = trustingRoles(run);
        assert.deepEqual(roles.map((r) => r.role.name.replace("pakashop-staging-", "")).sort(), ["backups-writer", "ci-deploy", "ci-read-only"]);
        for (const { role, federated } of roles) assert.equal(federated, LOOKED_UP_ARN, role.name);
    });

    it("production set not to create it (override false) trusts the provider that already exists in its account", async () => {
        const { result: run } = await withLookup(found, () => planStack("production", { [CREATE]: false }));
        assert.equal(byType(run, PROVIDER).length, 0);
        const roles = trustingRoles(run);
        assert.equal(roles.length, 3);
        for (const { role, federated } of roles) assert.equal(federated, LOOKED_UP_ARN, role.name);
    });

    it("a stack set not to create the provider (override false), in an account without one, stops with the fix instead of IAM's MalformedPolicyDocument", async () => {
        await assert.rejects(
            withLookup(absent, () => planStack("staging", { [CREATE]: false })),
            (error: Error) => {
                assert.match(error.message, /GitHub's OIDC provider https:\/\/token\.actions\.githubusercontent\.com was not found/);
                assert.match(error.message, /couldn't find resource/);
                assert.match(error.message, /pakashop-infra:createGithubOidcProvider/);
                assert.match(error.message, /deploy the stack that creates it first/);
                return true;
            },
        );
    });

    it("Pulumi.yaml declares the setting as a boolean defaulting to false (a new stack never creates a second provider)", () => {
        const project = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
        assert.equal(project.config.createGithubOidcProvider.type, "boolean");
        assert.equal(project.config.createGithubOidcProvider.default, false);
    });
});
