/**
 * Who can reach what, and who may do what, per stack: the effects of the program's security
 * groups, runner, Instance Connect Endpoint and roles (issue 10), computed from the planned
 * resources, not from the code's constants. Each checker has a negative case that shows it
 * can fail.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as ipaddr from "ipaddr.js";
import { parse as parseYaml } from "yaml";
import { SettingError } from "../components/errors";
import { RUNNER_WORKFLOWS, runnerProjectName, workflowNamePattern } from "../components/deployRunner";
import { renderConsoleHostKeyScript } from "../components/scripts/consoleHostKey";
import { PlannedResource, OfflineRun } from "../tools/offlineRun";
import { CLOUDFLARE_IPV4, CLOUDFLARE_IPV6 } from "../tools/mocks";
import { REPO_ROOT } from "../tools/stackConfig";
import { byType, planStack } from "./helpers";

const SG = "aws:ec2/securityGroup:SecurityGroup";
const REPO = "pakashop/pakashop-infra";
const VPC_CIDRS: Record<string, string> = { staging: "10.20.0.0/16", production: "10.10.0.0/16" };

interface Rule { fromPort: number; toPort: number; protocol: string; cidrBlocks?: string[]; ipv6CidrBlocks?: string[]; securityGroups?: string[] }

/** The security groups by a short role name (`backend`, `runner`, ...) taken from the resource name. */
function groups(run: OfflineRun): Record<string, PlannedResource> {
    const prefix = `pakashop-${run.stack}-`;
    return Object.fromEntries(byType(run, SG).map((r) => [r.name.slice(prefix.length).replace(/-sg$/, ""), r]));
}

/**
 * For every group: port -> the sources that reach it (other groups by role name, CIDRs as
 * written). Applied runs give each group the id `<resource name>-id`.
 */
function reachability(run: OfflineRun): Record<string, Record<string, string[]>> {
    const byId = Object.fromEntries(Object.entries(groups(run)).map(([role, r]) => [`${r.name}-id`, role]));
    const table: Record<string, Record<string, string[]>> = {};
    for (const [role, r] of Object.entries(groups(run))) {
        const ports: Record<string, string[]> = {};
        for (const rule of (r.inputs.ingress ?? []) as Rule[]) {
            const key = rule.fromPort === rule.toPort ? `${rule.protocol}/${rule.fromPort}` : `${rule.protocol}/${rule.fromPort}-${rule.toPort}`;
            const sources = [...(rule.securityGroups ?? []).map((id) => `sg:${byId[id] ?? id}`), ...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])];
            ports[key] = [...(ports[key] ?? []), ...sources].sort();
        }
        table[role] = ports;
    }
    return table;
}

/**
 * Every ingress rule that admits an address outside the VPC, except HTTPS from Cloudflare on
 * the origin (the load balancer; the backend hosts admit it from the load balancer's group
 * only). Returns one line per finding.
 */
export function outsideVpcFindings(sgs: Record<string, PlannedResource>, vpcCidr: string): string[] {
    const vpc = ipaddr.parseCIDR(vpcCidr);
    const cloudflare = new Set([...CLOUDFLARE_IPV4, ...CLOUDFLARE_IPV6]);
    const findings: string[] = [];
    for (const [role, r] of Object.entries(sgs)) {
        for (const rule of (r.inputs.ingress ?? []) as Rule[]) {
            for (const cidr of [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])]) {
                const [address, prefix] = ipaddr.parseCIDR(cidr);
                const inside = address.kind() === "ipv4" && prefix >= vpc[1] && address.match(vpc);
                const origin = role === "lb" && rule.fromPort === 443 && rule.toPort === 443 && cloudflare.has(cidr);
                if (!inside && !origin) findings.push(`${role}: ${rule.protocol} ${rule.fromPort}-${rule.toPort} from ${cidr}`);
            }
        }
    }
    return findings;
}

function trust(role: PlannedResource): { subjects: string[]; statement: Record<string, any> } {
    const document = JSON.parse(String(role.inputs.assumeRolePolicy));
    assert.equal(document.Statement.length, 1, `${role.name}: one statement`);
    const statement = document.Statement[0];
    const subjects = statement.Condition.StringEquals["token.actions.githubusercontent.com:sub"];
    return { subjects: [subjects].flat().sort(), statement };
}

for (const stack of ["staging", "production"]) {
    describe(`access to the ${stack} stack (mocks)`, function () {
        this.timeout(120_000);
        let run: OfflineRun;
        before(async () => {
            run = await planStack(stack);
        });

        it("each port admits exactly these sources: SSH the runner and Instance Connect, HTTPS Cloudflare on the load balancer and the load balancer on the hosts, data ports the hosts", () => {
            const ssh = ["sg:instance-connect", "sg:runner"];
            assert.deepEqual(reachability(run), {
                // Cloudflare's IPv4 ranges only: the load balancer has no IPv6 address.
                "lb": { "tcp/443": [...CLOUDFLARE_IPV4].sort() },
                "backend": { "tcp/22": ssh, "tcp/443": ["sg:lb"] },
                "cache-host": { "tcp/6379": ["sg:backend"], "tcp/22": ssh },
                "search-host": { "tcp/7700": ["sg:backend"], "tcp/22": ssh },
                "database": { "tcp/5432": ["sg:backend", "sg:runner"].sort() },
                "runner": {},
                "instance-connect": {},
            });
        });

        it("no rule admits an address outside the VPC but HTTPS from Cloudflare on the load balancer, and the check catches one that does", () => {
            const sgs = groups(run);
            assert.deepEqual(outsideVpcFindings(sgs, VPC_CIDRS[stack]), []);
            // Negative: SSH from an office network, and Redis from inside-looking but wider range.
            const opened = structuredClone(sgs);
            (opened.backend.inputs.ingress as Rule[]).push({ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["203.0.113.0/24"] });
            (opened["cache-host"].inputs.ingress as Rule[]).push({ protocol: "tcp", fromPort: 6379, toPort: 6379, cidrBlocks: ["10.0.0.0/8"] });
            (opened["search-host"].inputs.ingress as Rule[]).push({ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [CLOUDFLARE_IPV4[0]] });
            // The hosts are no origin any more: Cloudflare straight to a host goes around the load balancer.
            (opened.backend.inputs.ingress as Rule[]).push({ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [CLOUDFLARE_IPV4[1]] });
            assert.deepEqual(outsideVpcFindings(opened, VPC_CIDRS[stack]), [
                "backend: tcp 22-22 from 203.0.113.0/24",
                `backend: tcp 443-443 from ${CLOUDFLARE_IPV4[1]}`,
                "cache-host: tcp 6379-6379 from 10.0.0.0/8",
                `search-host: tcp 443-443 from ${CLOUDFLARE_IPV4[0]}`,
            ]);
        });

        it("the runner and the endpoint reach the internet on HTTP(S) only, and SSH/PostgreSQL inside the VPC only", () => {
            const sgs = groups(run);
            const egress = (role: string) => ((sgs[role].inputs.egress ?? []) as Rule[])
                .map((e) => `${e.protocol}/${e.fromPort}-${e.toPort} ${[...(e.cidrBlocks ?? []), ...(e.ipv6CidrBlocks ?? [])].join(",")}`).sort();
            assert.deepEqual(egress("runner"), [
                "tcp/22-22 " + VPC_CIDRS[stack], "tcp/443-443 0.0.0.0/0", "tcp/5432-5432 " + VPC_CIDRS[stack], "tcp/80-80 0.0.0.0/0",
            ]);
            assert.deepEqual(egress("instance-connect"), ["tcp/22-22 " + VPC_CIDRS[stack]]);
        });

        it("the runner is a CodeBuild project in the private subnets, started only by queued jobs of the in-VPC workflows run by listed accounts", () => {
            const [project] = byType(run, "aws:codebuild/project:Project");
            assert.equal(project.inputs.name, runnerProjectName(stack));
            const vpcConfig = project.inputs.vpcConfig as { subnets: string[]; securityGroupIds: string[] };
            assert.deepEqual(vpcConfig.securityGroupIds, [`pakashop-${stack}-runner-sg-id`]);
            assert.ok(vpcConfig.subnets.length >= 2 && vpcConfig.subnets.every((id) => /-network-private-\d+-id$/.test(id)), JSON.stringify(vpcConfig.subnets));
            assert.deepEqual(project.inputs.source, {
                type: "GITHUB", location: `https://github.com/${REPO}.git`,
                auth: { type: "CODECONNECTIONS", resource: `arn:aws:codeconnections:ap-south-1:${stack === "staging" ? "111111111111" : "222222222222"}:connection/00000000-0000-4000-8000-000000000000` },
            });
            assert.equal((project.inputs.environment as { privilegedMode: boolean }).privilegedMode, false);
            const [webhook] = byType(run, "aws:codebuild/webhook:Webhook");
            assert.deepEqual(webhook.inputs.filterGroups, [{ filters: [
                { type: "EVENT", pattern: "WORKFLOW_JOB_QUEUED" },
                { type: "WORKFLOW_NAME", pattern: "^(Deploy staging|Deploy production|Drift|Database Backup)$" },
                // The committed placeholder: id 0, which no GitHub account has.
                { type: "ACTOR_ACCOUNT_ID", pattern: "^(0)$" },
            ] }]);
        });

        it("the webhook admits exactly the listed GitHub accounts, and no bot", async () => {
            const listed = await planStack(stack, { "pakashop-infra:runnerGithubActorIds": [583231, 9919] });
            const [webhook] = byType(listed, "aws:codebuild/webhook:Webhook");
            const filter = (webhook.inputs.filterGroups as { filters: { type: string; pattern: string }[] }[])[0].filters.find((f) => f.type === "ACTOR_ACCOUNT_ID")!;
            assert.equal(filter.pattern, "^(9919|583231)$");
            // CodeBuild matches it against the event's sender.id; 41898282 is github-actions[bot].
            const admits = new RegExp(filter.pattern);
            assert.deepEqual(["583231", "9919", "41898282", "5832311", "99190", "9919|1", "0", ""].map((id) => admits.test(id)),
                [true, true, false, false, false, false, false, false]);
        });

        it("a deploy's credentials outlast the longest build: role session >= the runner's build timeout", () => {
            const [project] = byType(run, "aws:codebuild/project:Project");
            const deployRole = byType(run, "aws:iam/role:Role").find((r) => r.name === `pakashop-${stack}-ci-deploy`)!;
            assert.equal(project.inputs.buildTimeout, 90);
            assert.equal(deployRole.inputs.maxSessionDuration, 7200);
            assert.ok(Number(deployRole.inputs.maxSessionDuration) >= Number(project.inputs.buildTimeout) * 60);
        });

        it("the Instance Connect Endpoint sits in a private subnet, connects from its own group", () => {
            const [endpoint] = byType(run, "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint");
            assert.match(String(endpoint.inputs.subnetId), /-network-private-0-id$/);
            assert.equal(endpoint.inputs.preserveClientIp, false);
            assert.deepEqual(endpoint.inputs.securityGroupIds, [`pakashop-${stack}-instance-connect-sg-id`]);
        });

        it("every trust policy names this repository and exactly this stack's environments", () => {
            const roles = Object.fromEntries(byType(run, "aws:iam/role:Role").map((r) => [r.name.replace(`pakashop-${stack}-`, ""), r]));
            const github = Object.entries(roles).filter(([, r]) => String(r.inputs.assumeRolePolicy).includes("AssumeRoleWithWebIdentity"));
            assert.deepEqual(Object.fromEntries(github.map(([name, r]) => [name, trust(r).subjects])), {
                "ci-deploy": [`repo:${REPO}:environment:${stack}`],
                "ci-read-only": [`repo:${REPO}:environment:${stack}-preview`, `repo:${REPO}:environment:${stack}-read`],
                "backups-writer": [`repo:${REPO}:environment:${stack}-backup`],
            });
            for (const [name, r] of github) {
                const { statement } = trust(r);
                assert.equal(statement.Condition.StringLike, undefined, `${name}: no wildcard subjects`);
                assert.equal(statement.Condition.StringEquals["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com");
            }
            // The runner's own role: CodeBuild of this account only.
            const runner = JSON.parse(String(roles["runner-role"].inputs.assumeRolePolicy));
            assert.deepEqual(runner.Statement[0].Principal, { Service: "codebuild.amazonaws.com" });
            assert.equal(runner.Statement[0].Condition.StringEquals["aws:SourceAccount"], "123456789012");
        });

        it("the read-only role is denied the database dumps by the bucket's policy", () => {
            const [policy] = byType(run, "aws:s3/bucketPolicy:BucketPolicy");
            const [bucket] = byType(run, "aws:s3/bucket:Bucket");
            const bucketArn = `arn:aws:s3:::${bucket.inputs.bucketPrefix}mock`;
            const readOnlyArn = `arn:aws:iam::123456789012:role/pakashop-${stack}-ci-read-only`;
            assert.equal(deniedBy(JSON.parse(String(policy.inputs.policy)), readOnlyArn, "s3:GetObject", `${bucketArn}/daily/pakashop-${stack}-20261127.sql.gz`), true);
            assert.equal(deniedBy(JSON.parse(String(policy.inputs.policy)), readOnlyArn, "s3:GetObjectVersion", `${bucketArn}/production/x.sql.gz`), true);
            // Negative: the same evaluation does not deny the deploy role (restores use it).
            assert.equal(deniedBy(JSON.parse(String(policy.inputs.policy)), `arn:aws:iam::123456789012:role/pakashop-${stack}-ci-deploy`, "s3:GetObject", `${bucketArn}/daily/x`, true), false);
        });

        it("no host's user data holds a private key; every host makes its own ed25519 key and prints it to the console", () => {
            for (const instance of byType(run, "aws:ec2/instance:Instance")) {
                const userData = instance.inputs.userData;
                assert.equal(typeof userData, "string", `${instance.name}: user data is plain (no secret in it)`);
                assert.doesNotMatch(String(userData), /PRIVATE KEY|ssh_keys/);
                const config = JSON.parse(String(userData).replace(/^#cloud-config\n/, ""));
                assert.deepEqual([config.ssh_deletekeys, config.ssh_genkeytypes, config.ssh.emit_keys_to_console], [true, ["ed25519"], true]);
            }
            assert.equal(byType(run, "tls:index/privateKey:PrivateKey").filter((k) => !k.name.endsWith("-origin-key")).length, 0);
        });
    });
}

/** Whether a bucket policy's Deny statements deny `principal` the `action` on `resource` (TLS in use). */
function deniedBy(policy: { Statement: Record<string, any>[] }, principal: string, action: string, resource: string, secureTransport = true): boolean {
    const glob = (pattern: string, value: string) => new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(value);
    return policy.Statement.some((s) => s.Effect === "Deny"
        && (s.Principal === "*" || [s.Principal?.AWS].flat().includes(principal))
        && [s.Action].flat().some((a: string) => glob(a, action))
        && [s.Resource].flat().some((r: string) => glob(r, resource))
        && !(s.Condition?.Bool?.["aws:SecureTransport"] === "false" && secureTransport));
}

describe("runnerGithubActorIds: numeric account ids only (they go into the webhook's regex)", function () {
    this.timeout(120_000);
    const NS = "pakashop-infra";
    for (const [what, value, setting] of [
        ["a login instead of an id", ["octocat"], `${NS}:runnerGithubActorIds[0]`],
        ["a regex", ["1|.*"], `${NS}:runnerGithubActorIds[0]`],
        ["a negative number", [-5], `${NS}:runnerGithubActorIds[0]`],
        ["an empty list", [], `${NS}:runnerGithubActorIds`],
    ] as const) {
        it(`refuses ${what}, naming the setting`, async () => {
            await assert.rejects(planStack("staging", { [`${NS}:runnerGithubActorIds`]: value }),
                (e: Error) => e instanceof SettingError && e.setting === setting && /gh api users/.test(e.message));
        });
    }
});

describe("the two committed stacks live in different AWS accounts", () => {
    it("each stack file allows exactly one account, and not the other stack's", () => {
        const accounts = Object.fromEntries(["staging", "production"].map((stack) => {
            const file = parseYaml(fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`), "utf8"));
            return [stack, file.config["aws:allowedAccountIds"] as string[]];
        }));
        for (const ids of Object.values(accounts)) assert.ok(Array.isArray(ids) && ids.length === 1 && /^\d{12}$/.test(ids[0]), JSON.stringify(ids));
        assert.notEqual(accounts.staging[0], accounts.production[0]);
    });
});

describe("the runner's webhook admits exactly the workflows whose jobs run on it", () => {
    it("the workflows with a CodeBuild runner label are the names the webhook filter matches, and no other workflow matches", () => {
        const dir = path.join(REPO_ROOT, ".github", "workflows");
        const pattern = new RegExp(workflowNamePattern(RUNNER_WORKFLOWS));
        for (const file of fs.readdirSync(dir)) {
            const text = fs.readFileSync(path.join(dir, file), "utf8");
            const name = String(parseYaml(text).name);
            assert.equal(pattern.test(name), /codebuild-pakashop-/.test(text), `${file} (${name}): runs on the runner exactly when the webhook admits it`);
        }
        assert.equal(pattern.test("Drift (fork)"), false);
        assert.equal(pattern.test("CI"), false);
    });
});

describe("the host-key step reads the key from the console (real script, stand-in aws CLI)", function () {
    this.timeout(60_000);
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGvAqI2tAaMN5GU8vnc8s5+xzD9dxehbptcDhaBl0o8T";
    const OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKey0000";
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-key-"));
        fs.writeFileSync(path.join(dir, "script.sh"), renderConsoleHostKeyScript());
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Runs the script with an `aws` that prints the given consoles, one per call (the last repeats). */
    function runWith(consoles: string[], instanceId = "i-0123456789abcdef0"): { status: number; stdout: string; stderr: string; calls: string[] } {
        const bin = fs.mkdtempSync(path.join(dir, "bin-"));
        consoles.forEach((text, i) => fs.writeFileSync(path.join(bin, `console-${i}`), text));
        fs.writeFileSync(path.join(bin, "aws"), `#!/bin/bash
echo "$*" >> "${bin}/calls"
n=$(wc -l < "${bin}/calls"); i=$(( n - 1 )); last=${consoles.length - 1}
(( i > last )) && i=$last
cat "${bin}/console-$i"
`, { mode: 0o755 });
        const result = spawnSync("bash", [path.join(dir, "script.sh")], {
            encoding: "utf8",
            env: { PATH: `${bin}:/usr/bin:/bin`, PAKASHOP_INSTANCE_ID: instanceId, PAKASHOP_REGION: "ap-south-1", PAKASHOP_HOST_KEY_POLL_SECONDS: "0", PAKASHOP_HOST_KEY_WAIT_SECONDS: "3" },
        });
        const calls = fs.existsSync(path.join(bin, "calls")) ? fs.readFileSync(path.join(bin, "calls"), "utf8").trim().split("\n") : [];
        return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr, calls };
    }

    const block = (prefix: string, keys: string[]) => [
        `${prefix}#############################################################`,
        `${prefix}-----BEGIN SSH HOST KEY FINGERPRINTS-----`,
        `${prefix}256 SHA256:abc root@ip-10-20-128-10 (ED25519)`,
        `${prefix}-----END SSH HOST KEY FINGERPRINTS-----`,
        `${prefix}-----BEGIN SSH HOST KEY KEYS-----`,
        ...keys.map((k) => `${prefix}${k} root@ip-10-20-128-10`),
        `${prefix}-----END SSH HOST KEY KEYS-----`,
    ].join("\n");

    it("prints exactly the ed25519 key, with the logger's `ec2:` prefix and a syslog head, calling the API with --latest", () => {
        const console = ["[   12.3] cloud-init[612]: Cloud-init v. 25.1 running 'modules:final'", block("<14>Nov 27 02:00:00 ec2: ", ["ecdsa-sha2-nistp256 AAAAE2VjZHNh", KEY]), "Debian GNU/Linux 13 ip-10-20-128-10 ttyS0"].join("\n");
        const result = runWith([console]);
        assert.equal(result.status, 0, result.stderr);
        assert.equal(result.stdout, `${KEY}\n`);
        assert.deepEqual(result.calls, ["ec2 get-console-output --region ap-south-1 --instance-id i-0123456789abcdef0 --latest --output text --query Output"]);
    });

    it("waits while the block is incomplete, and takes the last complete block (a reboot prints it again)", () => {
        const partial = block("", [KEY]).split("\n").slice(0, 5).join("\n");
        const result = runWith([partial, `${block("", [OTHER])}\n${block("ec2: ", [KEY])}`]);
        assert.equal(result.status, 0, result.stderr);
        assert.equal(result.stdout, `${KEY}\n`);
        assert.equal(result.calls.length, 2);
    });

    it("fails, naming the instance, when no key appears in time", () => {
        const result = runWith(["no keys here"]);
        assert.equal(result.status, 1);
        assert.match(result.stderr, /instance i-0123456789abcdef0 printed no ssh-ed25519 host key/);
        assert.equal(result.stdout, "");
    });

    it("refuses an instance id that is not one, before calling AWS", () => {
        const result = runWith([block("", [KEY])], "i-1; rm -rf /");
        assert.equal(result.status, 1);
        assert.match(result.stderr, /not an EC2 instance id/);
        assert.deepEqual(result.calls, []);
    });
});

