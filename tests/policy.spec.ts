import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ALL_POLICIES } from "../policy/policies";
import { OfflineRun, PlannedResource, unwrapSecrets } from "../tools/offlineRun";
import { MOCK_PRIVATE_IP } from "../tools/mocks";
import { checkPolicies, exitCodeFor, loadPackConfig, policyLevels } from "../tools/policyCheck";
import { REPO_ROOT } from "../tools/stackConfig";
import Ajv from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { exec, planStack } from "./helpers";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const OWASP = "4814384a9e5d4991b9815dcfc25d2f1f";
const MANAGED = "efb7b8c949ac4650a09736fc376e9aee";
const BUCKET = "pakashop-production-backups-bucket";
const SSH_FIX = "admit SSH only from the deploy runner's and the Instance Connect Endpoint's security groups, with no address range.";

/** A copy of the plan with plain inputs, so a case can change one thing. */
function copyOf(run: OfflineRun): OfflineRun {
    return { ...run, resources: run.resources.map((r) => ({ ...r, dependsOn: [...r.dependsOn], inputs: structuredClone(unwrapSecrets(r.inputs)) as Props })) };
}
function find(run: OfflineRun, suffix: string, type?: string): PlannedResource & { inputs: Props } {
    const found = run.resources.filter((r) => r.name.endsWith(suffix) && r.custom && (!type || r.type === type));
    assert.equal(found.length, 1, `one custom resource named *${suffix}`);
    return found[0] as PlannedResource & { inputs: Props };
}

/** One violating case: which policy, what to break, and the exact message expected. */
interface Case { policy: string; what: string; breakIt: (run: OfflineRun) => void; message: string }

const CASES: Case[] = [
    { policy: "aws-ec2-instance-enforce-imdsv2", what: "IMDSv1 allowed", breakIt: (r) => (find(r, "-backend-instance").inputs.metadataOptions.httpTokens = "optional"),
        message: 'metadataOptions.httpTokens is "optional"; set it to "required" so only IMDSv2 is served.' },
    { policy: "aws-ec2-instance-missing-root-encryption", what: "an unencrypted root volume", breakIt: (r) => (find(r, "-backend-instance").inputs.rootBlockDevice.encrypted = false),
        message: "rootBlockDevice.encrypted is false; set it to true." },
    { policy: "aws-ec2-instance-missing-volume-encryption", what: "an unencrypted data volume", breakIt: (r) => (find(r, "-search-host-instance").inputs.ebsBlockDevices[0].encrypted = false),
        message: "ebsBlockDevices /dev/sdf is not encrypted; set encrypted: true." },
    { policy: "aws-ec2-instance-disallow-public-ip", what: "a public address on a data host", breakIt: (r) => (find(r, "-cache-host-instance").inputs.associatePublicIpAddress = true),
        message: "associatePublicIpAddress is true; set it to false." },
    { policy: "aws-ec2-subnet-disallow-public-ip-on-launch", what: "public IPs on launch", breakIt: (r) => (find(r, "-network-public-0", "aws:ec2/subnet:Subnet").inputs.mapPublicIpOnLaunch = true),
        message: "mapPublicIpOnLaunch is true on 10.10.0.0/20; set it to false." },
    // SSH comes from the runner's and the Instance Connect Endpoint's groups only: any address
    // range on port 22 is a violation, not only the whole internet.
    { policy: "aws-ec2-securitygroup-disallow-public-ssh", what: "SSH open to the world", breakIt: (r) => (find(r, "-backend-sg").inputs.ingress[0].cidrBlocks = ["0.0.0.0/0"]),
        message: `ingress 22-22 admits SSH from 0.0.0.0/0; ${SSH_FIX}` },
    { policy: "aws-ec2-securitygroup-disallow-public-ssh", what: "SSH from a deploy network (the retired deployCidrs) beside the groups", breakIt: (r) => {
        const rule = find(r, "-backend-sg").inputs.ingress[0];
        assert.equal(rule.fromPort, 22);
        assert.equal(rule.securityGroups.length, 2);
        rule.cidrBlocks = ["203.0.113.0/24"];
    }, message: `ingress 22-22 admits SSH from 203.0.113.0/24; ${SSH_FIX}` },
    { policy: "aws-ec2-securitygroup-disallow-public-ssh", what: "SSH to a data host from the VPC's own range", breakIt: (r) => {
        const rule = find(r, "-cache-host-sg").inputs.ingress[1];
        assert.equal(rule.fromPort, 22);
        rule.cidrBlocks = ["10.10.0.0/16"];
    }, message: `ingress 22-22 admits SSH from 10.10.0.0/16; ${SSH_FIX}` },
    { policy: "aws-ec2-securitygroup-disallow-public-ssh", what: "an all-protocols rule from an IPv6 range (it covers 22)", breakIt: (r) => {
        find(r, "-search-host-sg").inputs.ingress.push({ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["2001:db8::/48"] });
    }, message: `ingress 0-0 admits SSH from 2001:db8::/48; ${SSH_FIX}` },
    { policy: "aws-ec2-securitygroup-disallow-public-data-ports", what: "PostgreSQL open to the world", breakIt: (r) => (find(r, "-database-sg").inputs.ingress[0].cidrBlocks = ["0.0.0.0/0"]),
        message: "ingress 5432-5432 opens PostgreSQL (5432) to 0.0.0.0/0; admit the backend host's security group only." },
    { policy: "aws-resource-missing-required-tags", what: "a VPC without its Component tag", breakIt: (r) => delete find(r, "-network-vpc").inputs.tags.Component,
        message: "tags lack Component; add them with resourceTags()." },
    { policy: "aws-rds-instance-enable-storage-encryption", what: "unencrypted storage", breakIt: (r) => (find(r, "-database-instance").inputs.storageEncrypted = false),
        message: "storageEncrypted is false; set it to true." },
    { policy: "aws-rds-instance-disallow-public-access", what: "a public database", breakIt: (r) => (find(r, "-database-instance").inputs.publiclyAccessible = true),
        message: "publiclyAccessible is true; set it to false." },
    { policy: "aws-rds-instance-configure-backup-retention", what: "14 days of backups in production", breakIt: (r) => (find(r, "-database-instance").inputs.backupRetentionPeriod = 14),
        message: "backupRetentionPeriod is 14 days; keep backups at least 30 days." },
    { policy: "aws-rds-instance-enable-deletion-protection", what: "no deletion protection", breakIt: (r) => (find(r, "-database-instance").inputs.deletionProtection = false),
        message: "deletionProtection is false; set it to true." },
    { policy: "aws-rds-instance-enable-final-snapshot", what: "no final snapshot", breakIt: (r) => (find(r, "-database-instance").inputs.skipFinalSnapshot = true),
        message: "skipFinalSnapshot is true; take a final snapshot." },
    { policy: "aws-rds-instance-enable-multi-az", what: "a single-zone database", breakIt: (r) => (find(r, "-database-instance").inputs.multiAz = false),
        message: "multiAz is false; set it to true for a standby in a second zone." },
    { policy: "aws-rds-parametergroup-enforce-tls", what: "TLS not forced", breakIt: (r) => (find(r, "-database-params").inputs.parameters[0].value = "0"),
        message: 'rds.force_ssl is "0"; set it to "1".' },
    { policy: "aws-s3-bucket-missing-public-access-block", what: "public policies allowed", breakIt: (r) => (find(r, "-backups-public-access").inputs.blockPublicPolicy = false),
        message: `bucket ${BUCKET} has no public access block with all four settings true; add one.` },
    { policy: "aws-s3-bucket-enable-versioning", what: "versioning suspended", breakIt: (r) => (find(r, "-backups-versioning").inputs.versioningConfiguration.status = "Suspended"),
        message: `bucket ${BUCKET} has no versioning; enable it.` },
    { policy: "aws-s3-bucket-enable-encryption", what: "no default encryption", breakIt: (r) => {
        const index = r.resources.findIndex((x) => x.name.endsWith("-backups-encryption"));
        r.resources.splice(index, 1);
    },
        message: `bucket ${BUCKET} has no default encryption; add a server-side encryption configuration.` },
    { policy: "aws-s3-bucket-enforce-tls", what: "no TLS-only statement", breakIt: (r) => {
        const policy = find(r, "-backups-tls-only").inputs;
        policy.policy = JSON.stringify({ ...JSON.parse(policy.policy), Statement: [] });
    }, message: `bucket ${BUCKET} has no policy denying requests without TLS; add one.` },
    { policy: "aws-s3-bucket-configure-lifecycle", what: "the daily/ rule disabled", breakIt: (r) => (find(r, "-backups-lifecycle").inputs.rules[0].status = "Disabled"),
        message: `bucket ${BUCKET} has no enabled lifecycle rule expiring daily/; add one.` },
    { policy: "cloudflare-zonesetting-enforce-ssl-strict", what: "SSL full", breakIt: (r) => (find(r, "-edge-ssl").inputs.value = "full"),
        message: 'ssl is "full"; set it to "strict".' },
    { policy: "cloudflare-zonesetting-enforce-min-tls", what: "TLS 1.0 allowed", breakIt: (r) => (find(r, "-edge-min-tls-version").inputs.value = "1.0"),
        message: 'min_tls_version is "1.0"; set it to "1.2".' },
    { policy: "cloudflare-zone-enable-always-https", what: "always HTTPS off", breakIt: (r) => (find(r, "-edge-always-use-https").inputs.value = "off"),
        message: 'the zone\'s always_use_https is not on; add the zone setting always_use_https = "on".' },
    { policy: "cloudflare-ruleset-enable-owasp", what: "OWASP not executed", breakIt: (r) => (find(r, "-edge-waf").inputs.rules.splice(0, 1)),
        message: `no ruleset executes the OWASP Core Ruleset (${OWASP}); add it to the managed WAF phase.` },
    { policy: "cloudflare-ruleset-enable-managed", what: "the Cloudflare managed ruleset disabled", breakIt: (r) => (find(r, "-edge-waf").inputs.rules[1].enabled = false),
        message: `no ruleset executes the Cloudflare Managed Ruleset (${MANAGED}); add it to the managed WAF phase.` },
    { policy: "cloudflare-dnsrecord-enforce-proxied", what: "the API record unproxied", breakIt: (r) => (find(r, "-edge-api").inputs.proxied = false),
        message: "A record api.pakashop.store is not proxied; set proxied: true." },
    { policy: "vercel-project-configure-production-branch", what: "production building main", breakIt: (r) => (find(r, "-frontend-project").inputs.gitRepository.productionBranch = "main"),
        message: 'gitRepository.productionBranch is "main"; set it to "production".' },
    { policy: "vercel-project-enable-preview-protection", what: "previews unprotected", breakIt: (r) => (find(r, "-frontend-project").inputs.vercelAuthentication.deploymentType = "none"),
        message: 'vercelAuthentication.deploymentType is "none"; set it to "standard_protection_new".' },
    { policy: "command-remote-enforce-host-key", what: "an unpinned host key", breakIt: (r) => (find(r, "-rollout-bootstrap").inputs.connection.hostKey = ""),
        // The rollout connects to the backend's private address, from the in-VPC runner.
        message: `connection to ${MOCK_PRIVATE_IP} has no hostKey; pin the host's key.` },
    { policy: "command-remote-disable-secret-logging", what: "stdout logged with secrets on stdin", breakIt: (r) => (find(r, "-rollout-config-deploy").inputs.logging = "stdoutAndStderr"),
        message: 'logging is "stdoutAndStderr" on a command fed secrets on stdin; set it to "stderr" or "none".' },
    { policy: "pakashop-rollout-enforce-tier-order", what: "a supporting service not waiting for a core one", breakIt: (r) => {
        const step = find(r, "-rollout-settlement-deploy");
        step.dependsOn.splice(step.dependsOn.findIndex((u) => u.endsWith("-analytics-deploy")), 1);
    }, message: "settlement deploys without waiting for analytics (the tier before); add them to dependsOn." },
    { policy: "pakashop-rollout-enforce-branch", what: "a step deploying main in production", breakIt: (r) => {
        const step = find(r, "-rollout-config-deploy");
        const [summary, ...rest] = step.inputs.triggers as Record<string, unknown>[];
        step.inputs.triggers = [{ ...summary, branch: "main" }, ...rest];
    }, message: "pakashop-production-rollout-config-deploy deploys branch main; this stack deploys production." },
    { policy: "pakashop-rollout-enforce-branch", what: "a deploy step that does not say its branch", breakIt: (r) => {
        const step = find(r, "-rollout-gateway-deploy");
        step.inputs.triggers = ["0123"];
    }, message: "pakashop-production-rollout-gateway-deploy does not say which branch it deploys (triggers[0].branch); deploy steps must come from ServiceRollout." },
];

describe("policy pack", () => {
    let production: OfflineRun;
    before(async () => {
        production = await planStack("production");
    });

    it("has at least 25 policies, named <provider>-<resource>-<verb>-<what>, each described, with severity and remediation", () => {
        assert.ok(ALL_POLICIES.length >= 25, `${ALL_POLICIES.length} policies`);
        assert.equal(new Set(ALL_POLICIES.map((p) => p.name)).size, ALL_POLICIES.length);
        for (const p of ALL_POLICIES) {
            assert.match(p.name, /^(aws|cloudflare|vercel|command|pakashop)(-[a-z0-9]+)+-(missing|disallow|enable|disable|configure|enforce)-[a-z0-9-]+$/, p.name);
            assert.match(p.description, /^Checks that /, p.name);
            assert.equal(p.enforcementLevel, "mandatory", p.name);
            assert.ok(p.severity && ["low", "medium", "high", "critical"].includes(p.severity), p.name);
            assert.ok((p.remediationSteps ?? "").length > 10, p.name);
        }
    });

    it("production's pack config makes every policy mandatory; staging relaxes two, with reasons written down", () => {
        const levels = (stack: string) => Object.fromEntries(policyLevels(loadPackConfig(stack)).map((p) => [p.name, p.enforcementLevel]));
        assert.ok(Object.values(levels("production")).every((l) => l === "mandatory"));
        const advisory = Object.entries(levels("staging")).filter(([, l]) => l !== "mandatory").map(([n]) => n).sort();
        assert.deepEqual(advisory, ["aws-rds-instance-enable-deletion-protection", "aws-rds-instance-enable-multi-az"]);
        const reasons = fs.readFileSync(path.join(REPO_ROOT, "policy", "README.md"), "utf8");
        for (const name of advisory) {
            const row = reasons.split("\n").find((line) => line.startsWith(`| \`${name}\``)) ?? "";
            const reason = row.split("|").map((cell) => cell.trim())[3] ?? "";
            assert.ok(reason.length > 30, `a reason for ${name}: ${row}`);
        }
    });

    it("both stacks of the real program pass with no mandatory violation", async () => {
        assert.deepEqual(await checkPolicies(production, loadPackConfig("production")), []);
        const staging = await checkPolicies(await planStack("staging"), loadPackConfig("staging"));
        assert.deepEqual(staging.map((v) => `${v.enforcementLevel} ${v.policy}`), [
            "advisory aws-rds-instance-enable-deletion-protection", "advisory aws-rds-instance-enable-multi-az",
        ]);
        assert.equal(exitCodeFor(staging), 0);
    });

    it("every policy has a violating case here", () => {
        assert.deepEqual([...new Set(CASES.map((c) => c.policy))].sort(), ALL_POLICIES.map((p) => p.name).sort());
    });

    for (const c of CASES) {
        it(`${c.policy}: catches ${c.what}, and only that`, async () => {
            const broken = copyOf(production);
            c.breakIt(broken);
            const violations = await checkPolicies(broken, loadPackConfig("production"));
            assert.deepEqual(violations.map((v) => [v.policy, v.enforcementLevel, v.message]), [[c.policy, "mandatory", c.message]]);
        });
    }

    it("a broken production plan (SSH open to the world, RDS public, SSL full) exits 5", async () => {
        const broken = copyOf(production);
        find(broken, "-backend-sg").inputs.ingress[0].cidrBlocks = ["0.0.0.0/0"];
        find(broken, "-database-instance").inputs.publiclyAccessible = true;
        find(broken, "-edge-ssl").inputs.value = "full";
        const violations = await checkPolicies(broken, loadPackConfig("production"));
        assert.deepEqual(violations.map((v) => v.policy).sort(), [
            "aws-ec2-securitygroup-disallow-public-ssh", "aws-rds-instance-disallow-public-access", "cloudflare-zonesetting-enforce-ssl-strict",
        ]);
        assert.equal(exitCodeFor(violations), 5);
    });

    it("npm run plan --format sarif validates against the SARIF 2.1.0 schema", function () {
        this.timeout(180_000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-sarif-"));
        try {
            const plan = exec(process.execPath, ["--require", path.join(REPO_ROOT, "tools/register.js"), path.join(REPO_ROOT, "tools/plan.ts"), "--stack", "staging", "--format", "sarif"], { cwd: REPO_ROOT });
            assert.equal(plan.status, 0, plan.output);
            const sarif = JSON.parse(plan.output);
            assert.equal(sarif.version, "2.1.0");
            // Staging's two advisory policies, and (as in `pulumi preview` of a new stack) the
            // policies that read values not known before the first deploy, as warnings.
            const results = sarif.runs[0].results.map((r: Props) => [r.ruleId, r.level, /^can't run policy/.test(r.message.text)]);
            assert.deepEqual(results.filter((r: unknown[]) => !r[2]).map((r: unknown[]) => r.slice(0, 2)), [
                ["aws-rds-instance-enable-deletion-protection", "warning"], ["aws-rds-instance-enable-multi-az", "warning"],
            ]);
            assert.ok(results.every((r: unknown[]) => r[1] === "warning"), JSON.stringify(results));
            // The SARIF 2.1.0 JSON schema (draft 2020-12) as Microsoft's SARIF multitool package ships it.
            const schema = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "node_modules/@microsoft/sarif-multitool-linux/sarif-2.1.0.json"), "utf8"));
            const ajv = new Ajv({ allErrors: true, strict: false });
            addFormats(ajv);
            const validate = ajv.compile(schema);
            assert.equal(validate(sarif), true, JSON.stringify(validate.errors, null, 2));
            // The schema does catch errors (the check can fail).
            const bad = { ...sarif, runs: [{ ...sarif.runs[0], results: [{ ruleId: "x", level: "bogus" }] }] };
            assert.equal(validate(bad), false);
            assert.ok((validate.errors ?? []).some((e) => e.instancePath === "/runs/0/results/0/level"));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
