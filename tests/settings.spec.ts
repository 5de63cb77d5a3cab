import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { SettingError } from "../components/errors";
import { readSettings, SETTING_KEYS, STACK_BRANCHES } from "../components/settings";
import { runOffline } from "../tools/offlineRun";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import { configSource } from "./helpers";

const NS = "pakashop-infra";
const OTHER_REVISION = "0123456789abcdef0123456789abcdef01234567";
/** The retired setting's error: why it went, and the fix (components/settings.ts RETIRED_SETTINGS). */
const RETIRED_DEPLOY_CIDRS = /is no longer a setting: SSH is admitted only from the stack's in-VPC deploy runner and its EC2 Instance Connect Endpoint \(no address outside the VPC reaches port 22\)\. Fix: remove pakashop-infra:deployCidrs from Pulumi\.<stack>\.yaml/;
const CONNECTION_RULE = /must be the ARN of an AWS CodeConnections connection \(arn:aws:codeconnections:<region>:<account>:connection\/<id>\).*Fix: create the GitHub connection once in the console/;

function settingsFor(stack: string, overrides: Record<string, unknown> = {}) {
    return readSettings(configSource(loadStackConfig(stack, overrides)), stack);
}

/**
 * Bad configurations: each names the setting it must report, the value the message must
 * repeat, and the rule. Every message must also carry a fix.
 */
const BAD: { what: string; stack?: string; overrides: Record<string, unknown>; setting: string; value: string; rule: RegExp }[] = [
    { what: "production deploying main", stack: "production", overrides: { [`${NS}:branch`]: "main" }, setting: `${NS}:branch`, value: '"main"', rule: /stack production deploys branch production/ },
    { what: "staging deploying production", overrides: { [`${NS}:branch`]: "production" }, setting: `${NS}:branch`, value: '"production"', rule: /stack staging deploys branch main/ },
    { what: "a branch name git refuses", overrides: { [`${NS}:branch`]: "main..x" }, setting: `${NS}:branch`, value: "main..x", rule: /not a valid git branch name/ },
    { what: "a missing revision", overrides: { [`${NS}:revision`]: undefined }, setting: `${NS}:revision`, value: "(not set)", rule: /full 40-character/ },
    { what: "a short revision", overrides: { [`${NS}:revision`]: "4f1c2d8" }, setting: `${NS}:revision`, value: "4f1c2d8", rule: /full 40-character/ },
    { what: "a branch name as revision", overrides: { [`${NS}:revision`]: "HEAD" }, setting: `${NS}:revision`, value: "HEAD", rule: /full 40-character/ },
    { what: "an unknown service", overrides: { [`${NS}:services`]: { serach: { revision: OTHER_REVISION } } }, setting: `${NS}:services.serach`, value: OTHER_REVISION, rule: /not a service of the catalog/ },
    { what: "an unknown override field", overrides: { [`${NS}:services`]: { search: { language: "rust" } } }, setting: `${NS}:services.search.language`, value: "rust", rule: /not a field a stack may override/ },
    { what: "a bad service revision", overrides: { [`${NS}:services`]: { search: { revision: "main" } } }, setting: `${NS}:services.search.revision`, value: "main", rule: /full 40-character/ },
    { what: "a duplicate port", overrides: { [`${NS}:services`]: { search: { port: 3006 } } }, setting: `${NS}:services.fraud.port`, value: "3006", rule: /also used by search/ },
    { what: "a port as text", overrides: { [`${NS}:services`]: { search: { port: "3005" } } }, setting: `${NS}:services.search.port`, value: '"3005"', rule: /must be a number/ },
    { what: "an unknown tier", overrides: { [`${NS}:services`]: { search: { tier: "edge" } } }, setting: `${NS}:services.search.tier`, value: "edge", rule: /must be one of config, gateway, core, supporting/ },
    // deployCidrs is retired (issue 10): SSH comes from the in-VPC runner and the Instance
    // Connect Endpoint only. Any value of it, even the old valid ones, gets the reason and the fix.
    ...([
        ["deployCidrs set to an empty list", [], "[]"],
        ["deployCidrs set to a documentation range (once valid)", ["203.0.113.0/24"], "203.0.113.0/24"],
        ["deployCidrs opening SSH to 0.0.0.0/0", ["203.0.113.0/24", "0.0.0.0/0"], "0.0.0.0/0"],
        ["deployCidrs opening SSH to ::/0", ["::/0"], "::/0"],
        ["deployCidrs as a single string", "203.0.113.0/24", "203.0.113.0/24"],
        ["deployCidrs as a secret", { secure: "v1:x" }, "[secret]"],
    ] as const).map(([what, value, shown]) => ({ what, overrides: { [`${NS}:deployCidrs`]: value }, setting: `${NS}:deployCidrs`, value: shown, rule: RETIRED_DEPLOY_CIDRS })),
    { what: "deployCidrs in production", stack: "production", overrides: { [`${NS}:deployCidrs`]: ["198.51.100.0/24"] }, setting: `${NS}:deployCidrs`, value: "198.51.100.0/24", rule: RETIRED_DEPLOY_CIDRS },
    { what: "a GitHub connection of another service", overrides: { [`${NS}:githubConnectionArn`]: "arn:aws:codebuild:ap-south-1:111111111111:connection/00000000-0000-4000-8000-000000000000" },
        setting: `${NS}:githubConnectionArn`, value: "arn:aws:codebuild:ap-south-1:111111111111:connection/", rule: CONNECTION_RULE },
    { what: "a GitHub connection with an 11-digit account", overrides: { [`${NS}:githubConnectionArn`]: "arn:aws:codeconnections:ap-south-1:11111111111:connection/00000000-0000-4000-8000-000000000000" },
        setting: `${NS}:githubConnectionArn`, value: "arn:aws:codeconnections:ap-south-1:11111111111:connection/", rule: CONNECTION_RULE },
    { what: "a GitHub connection with a 13-digit account", stack: "production", overrides: { [`${NS}:githubConnectionArn`]: "arn:aws:codeconnections:ap-south-1:2222222222222:connection/00000000-0000-4000-8000-000000000000" },
        setting: `${NS}:githubConnectionArn`, value: "2222222222222", rule: CONNECTION_RULE },
    { what: "a GitHub connection given by name, not ARN", overrides: { [`${NS}:githubConnectionArn`]: "pakashop-github" },
        setting: `${NS}:githubConnectionArn`, value: "pakashop-github", rule: CONNECTION_RULE },
    { what: "a GitHub connection ARN without its id", overrides: { [`${NS}:githubConnectionArn`]: "arn:aws:codeconnections:ap-south-1:111111111111:connection/" },
        setting: `${NS}:githubConnectionArn`, value: "arn:aws:codeconnections:ap-south-1:111111111111:connection/", rule: CONNECTION_RULE },
    { what: "a missing GitHub connection", overrides: { [`${NS}:githubConnectionArn`]: undefined }, setting: `${NS}:githubConnectionArn`, value: "(not set)", rule: /is required.*Fix: create the GitHub connection once in the console/ },
    { what: "a missing deploy public key", overrides: { [`${NS}:deployPublicKey`]: undefined }, setting: `${NS}:deployPublicKey`, value: "(not set)", rule: /is required/ },
    { what: "a private key pasted as public key", overrides: { [`${NS}:deployPublicKey`]: "-----BEGIN OPENSSH PRIVATE KEY-----" }, setting: `${NS}:deployPublicKey`, value: "BEGIN OPENSSH", rule: /one OpenSSH public key line/ },
    { what: "a missing deploy private key", overrides: { [`${NS}:deployPrivateKey`]: undefined }, setting: `${NS}:deployPrivateKey`, value: "(not set)", rule: /is required.*--secret/ },
    { what: "a private key in plain text", overrides: { [`${NS}:deployPrivateKey`]: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n" }, setting: `${NS}:deployPrivateKey`, value: "[plain text]", rule: /stored encrypted/ },
    { what: "a bad instance type", overrides: { [`${NS}:instanceType`]: "t3-large" }, setting: `${NS}:instanceType`, value: "t3-large", rule: /must be an EC2 instance type/ },
    { what: "a root volume too small", overrides: { [`${NS}:rootVolumeSizeGiB`]: 8 }, setting: `${NS}:rootVolumeSizeGiB`, value: "8", rule: /integer from 20 to 1024/ },
    { what: "a fractional health timeout", overrides: { [`${NS}:healthTimeoutSeconds`]: 2.5 }, setting: `${NS}:healthTimeoutSeconds`, value: "2.5", rule: /integer from 5 to 600/ },
    { what: "an ssh user with a space", overrides: { [`${NS}:sshUser`]: "ad min" }, setting: `${NS}:sshUser`, value: "ad min", rule: /Linux user name/ },
    { what: "a VPC range that is not CIDR", overrides: { [`${NS}:vpcCidr`]: "10.20.0.0/99" }, setting: `${NS}:vpcCidr`, value: "10.20.0.0/99", rule: /not a valid CIDR/ },
    { what: "a public VPC range", overrides: { [`${NS}:vpcCidr`]: "8.8.0.0/16" }, setting: `${NS}:vpcCidr`, value: "8.8.0.0/16", rule: /private IPv4 range/ },
    { what: "a VPC too small for its subnets", overrides: { [`${NS}:vpcCidr`]: "10.20.0.0/24" }, setting: `${NS}:vpcCidr`, value: "10.20.0.0/24", rule: /\/16 to \/20/ },
    { what: "a single availability zone", overrides: { [`${NS}:availabilityZoneCount`]: 1 }, setting: `${NS}:availabilityZoneCount`, value: "1", rule: /integer from 2 to 3/ },
    { what: "backups kept below the minimum", overrides: { [`${NS}:databaseBackupRetentionDays`]: 3 }, setting: `${NS}:databaseBackupRetentionDays`, value: "3", rule: /integer from 7 to 35/ },
    { what: "production backups kept 14 days", stack: "production", overrides: { [`${NS}:databaseBackupRetentionDays`]: 14 }, setting: `${NS}:databaseBackupRetentionDays`, value: "14", rule: /at least 30 days/ },
    { what: "a production stack without deletion protection", stack: "production", overrides: { [`${NS}:databaseDeletionProtection`]: false }, setting: `${NS}:databaseDeletionProtection`, value: "false", rule: /protected from deletion/ },
    { what: "a production database without Multi-AZ", stack: "production", overrides: { [`${NS}:databaseMultiAz`]: false }, setting: `${NS}:databaseMultiAz`, value: "false", rule: /Multi-AZ/ },
    { what: "a storage ceiling below the storage", overrides: { [`${NS}:databaseMaxStorageGiB`]: 30, [`${NS}:databaseStorageGiB`]: 50 }, setting: `${NS}:databaseMaxStorageGiB`, value: "30", rule: /at least databaseStorageGiB \(50\)/ },
    { what: "deletion protection as text", overrides: { [`${NS}:databaseDeletionProtection`]: "yes" }, setting: `${NS}:databaseDeletionProtection`, value: "yes", rule: /true or false/ },
    { what: "an unknown Redis eviction policy", overrides: { [`${NS}:redisEvictionPolicy`]: "lru" }, setting: `${NS}:redisEvictionPolicy`, value: "lru", rule: /must be one of noeviction, allkeys-lru/ },
    { what: "Meilisearch at latest", overrides: { [`${NS}:meilisearchVersion`]: "latest" }, setting: `${NS}:meilisearchVersion`, value: "latest", rule: /pinned release tag/ },
    { what: "a checksum that is not SHA-256", overrides: { [`${NS}:meilisearchSha256`]: "abc123" }, setting: `${NS}:meilisearchSha256`, value: "abc123", rule: /64 lower-case hex/ },
    { what: "a domain outside the zone", overrides: { [`${NS}:frontendHostname`]: "staging.pakashop.com" }, setting: `${NS}:frontendHostname`, value: "staging.pakashop.com", rule: /must be in the zone pakashop\.store/ },
    { what: "a hostname two levels deep", overrides: { [`${NS}:apiHostname`]: "api.staging.pakashop.store" }, setting: `${NS}:apiHostname`, value: "api.staging.pakashop.store", rule: /universal certificate covers.*Fix: use api-staging\.pakashop\.store/ },
    { what: "a staging hostname that production could claim", overrides: { [`${NS}:apiHostname`]: "api.pakashop.store" }, setting: `${NS}:apiHostname`, value: "api.pakashop.store", rule: /carries the stack name.*Fix: use api-staging\.pakashop\.store/ },
    { what: "the API on the zone apex", stack: "production", overrides: { [`${NS}:apiHostname`]: "pakashop.store", [`${NS}:frontendHostname`]: "www.pakashop.store" }, setting: `${NS}:apiHostname`, value: "pakashop.store", rule: /not be the zone apex/ },
    { what: "a malformed zone id", overrides: { [`${NS}:cloudflareZoneId`]: "pakashop.store" }, setting: `${NS}:cloudflareZoneId`, value: "pakashop.store", rule: /32-character id/ },
    { what: "a GitHub repository without owner", overrides: { [`${NS}:githubRepository`]: "pakashop" }, setting: `${NS}:githubRepository`, value: "pakashop", rule: /owner\/name/ },
    { what: "a misspelt setting", overrides: { [`${NS}:deployCidr`]: ["203.0.113.0/24"] }, setting: `${NS}:deployCidr`, value: "203.0.113.0/24", rule: /not a setting.*did you mean|not a setting/ },
    { what: "a setting in the wrong case", overrides: { [`${NS}:githubConnectionARN`]: "arn:aws:codeconnections:ap-south-1:111111111111:connection/00000000-0000-4000-8000-000000000000" },
        setting: `${NS}:githubConnectionARN`, value: "arn:aws:codeconnections", rule: /is not a setting of this program\. Fix: did you mean pakashop-infra:githubConnectionArn\?/ },
];

describe("stack settings", () => {
    it("reads staging: branch main, one revision for all 19 services, its own GitHub connection and OIDC provider, no SSH address ranges", () => {
        const s = settingsFor("staging");
        assert.equal(s.branch, "main");
        assert.deepEqual(new Set(Object.values(s.serviceRevisions)), new Set(["4f1c2d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"]));
        assert.equal(Object.keys(s.serviceRevisions).length, 19);
        assert.deepEqual(s.platform.ci, {
            createGithubOidcProvider: true,
            githubConnectionArn: "arn:aws:codeconnections:ap-south-1:111111111111:connection/00000000-0000-4000-8000-000000000000",
            runnerGithubActorIds: [0],
        });
        assert.equal("deployCidrs" in s, false, "deployCidrs is retired");
        assert.equal(s.architecture, "x86_64");
        assert.equal(s.healthTimeoutSeconds, 90); // Pulumi.yaml default
    });

    it("accepts a connection made before the CodeStar Connections rename (codestar-connections service name)", () => {
        const arn = "arn:aws:codestar-connections:ap-south-1:111111111111:connection/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        assert.equal(settingsFor("staging", { [`${NS}:githubConnectionArn`]: arn }).platform.ci.githubConnectionArn, arn);
    });

    it("deployCidrs is no setting any more: not declared in Pulumi.yaml, not set by either stack file", () => {
        assert.ok(!(SETTING_KEYS as readonly string[]).includes("deployCidrs"));
        const project = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
        assert.equal(project.config.deployCidrs, undefined);
        for (const stack of Object.keys(STACK_BRANCHES)) {
            assert.equal(loadStackConfig(stack).config[`${NS}:deployCidrs`], undefined, `Pulumi.${stack}.yaml still sets deployCidrs`);
        }
    });

    it("reads production: branch production, its own sizes, its own GitHub connection and OIDC provider", () => {
        const s = settingsFor("production");
        assert.equal(s.branch, STACK_BRANCHES.production);
        assert.deepEqual(s.platform.ci, {
            createGithubOidcProvider: true,
            githubConnectionArn: "arn:aws:codeconnections:ap-south-1:222222222222:connection/00000000-0000-4000-8000-000000000000",
            runnerGithubActorIds: [0],
        });
        assert.equal(s.instanceType, "m6i.xlarge");
        assert.equal(s.rootVolumeSizeGiB, 80);
    });

    it("applies a per-service revision to that service only", () => {
        const s = settingsFor("staging", { [`${NS}:services`]: { search: { revision: OTHER_REVISION } } });
        assert.equal(s.serviceRevisions.search, OTHER_REVISION);
        assert.equal(Object.values(s.serviceRevisions).filter((r) => r === OTHER_REVISION).length, 1);
    });

    it("picks the arm64 image for Graviton instance types", () => {
        assert.equal(settingsFor("staging", { [`${NS}:instanceType`]: "t4g.large" }).architecture, "arm64");
        assert.equal(settingsFor("staging", { [`${NS}:instanceType`]: "c6gn.xlarge" }).architecture, "arm64");
    });

    it("Pulumi.yaml declares exactly the settings the program reads, each with a description", () => {
        const project = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
        assert.deepEqual(Object.keys(project.config).sort(), [...SETTING_KEYS].sort());
        for (const [key, decl] of Object.entries(project.config as Record<string, { description?: string }>)) {
            assert.ok((decl.description ?? "").length > 20, `${key} needs a description`);
        }
    });

    describe(`rejects ${BAD.length} bad configurations with the setting, the value and the fix`, () => {
        for (const bad of BAD) {
            it(bad.what, () => {
                assert.throws(() => settingsFor(bad.stack ?? "staging", bad.overrides), (error: unknown) => {
                    assert.ok(error instanceof SettingError, `expected SettingError, got ${String(error)}`);
                    assert.equal(error.setting, bad.setting);
                    assert.ok(error.message.includes(bad.value), `message should name ${bad.value}: ${error.message}`);
                    assert.match(error.message, bad.rule);
                    assert.match(error.message, /Fix: \S/);
                    return true;
                });
            });
        }
    });

    it("never repeats a secret in an error", () => {
        const key = "-----BEGIN OPENSSH PRIVATE KEY-----\ntopsecretmaterial\n-----END OPENSSH PRIVATE KEY-----\n";
        assert.throws(() => settingsFor("staging", { [`${NS}:deployPrivateKey`]: key }), (e: Error) => !e.message.includes("topsecretmaterial"));
        assert.throws(() => settingsFor("staging", { [`${NS}:deployPrivateKey`]: { secure: "x" }, [`${NS}:typo`]: { secure: "y" } }),
            (e: Error) => e.message.includes('"[secret]"'));
    });

    it("refuses two stack files that claim the same hostname in the shared zone", () => {
        const { assertNoCollisions } = require("../components/zoneRoutes"); // eslint-disable-line @typescript-eslint/no-require-imports
        assert.throws(() => assertNoCollisions([
            { stack: "production", frontendHostname: "pakashop.store", apiHostname: "api.pakashop.store" },
            { stack: "staging", frontendHostname: "staging.pakashop.store", apiHostname: "api.pakashop.store" },
        ]), /pakashop-infra:apiHostname = "api\.pakashop\.store": stacks production and staging both claim it.*Fix: give Pulumi\.staging\.yaml a hostname of its own/);
    });

    it("the real program refuses a bad configuration before registering anything", async () => {
        await assert.rejects(runOffline(loadStackConfig("production", { [`${NS}:deployCidrs`]: ["0.0.0.0/0"] })), (e: Error) => {
            assert.ok(e instanceof SettingError, String(e));
            assert.equal(e.setting, `${NS}:deployCidrs`);
            assert.match(e.message, RETIRED_DEPLOY_CIDRS);
            return true;
        });
        await assert.rejects(runOffline(loadStackConfig("production", { [`${NS}:githubConnectionArn`]: "pakashop-github" })),
            (e: Error) => e instanceof SettingError && e.setting === `${NS}:githubConnectionArn`);
    });
});
