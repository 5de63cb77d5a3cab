/**
 * The end-to-end stage's two stand-ins, checked without a host (part of `npm test`):
 * the firewall rendered from the program's security groups (tests/e2e/securityGroups.ts) and
 * the `aws` stand-in for EC2's console API (tests/e2e/consoleStandin.ts), read by the
 * program's own host-key script.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderConsoleHostKeyScript } from "../../components/scripts/consoleHostKey";
import { CLOUDFLARE_IPV4 } from "../../tools/mocks";
import { OfflineRun, PlannedResource, runOffline } from "../../tools/offlineRun";
import { loadStackConfig } from "../../tools/stackConfig";
import { onPath } from "../support/testTools";
import { installConsoleStandin } from "./consoleStandin";
import { admitRules, AdmitRule, renderRuleset, SECURITY_GROUP_TYPE, securityGroupId } from "./securityGroups";

const RUNNER = "10.216.0.1";
const LOAD_BALANCER = "10.216.0.5";
const ADDRESSES: Record<string, string> = {
    "pakashop-staging-backend-1-instance": "10.216.0.10",
    "pakashop-staging-lb": LOAD_BALANCER,
    "pakashop-staging-cache-host-instance": "10.216.0.11",
    "pakashop-staging-search-host-instance": "10.216.0.12",
};
const placement = (r: PlannedResource) =>
    r.type === "aws:codebuild/project:Project" ? [RUNNER] : ADDRESSES[r.name] ? [ADDRESSES[r.name]] : [];

/** A rule as one comparable line: what it admits, from where. */
const summary = (rules: readonly AdmitRule[]) => rules.map((r) => `${r.protocol} ${r.ports?.join("-") ?? "*"} from ${[...r.ipv4, ...r.ipv6].join(",") || "nothing"}`);

describe("e2e stage: the firewall rendered from the program's security groups", () => {
    let run: OfflineRun;

    before(async () => {
        // The staging stack as the e2e runs it, with the stage's security-group ids.
        run = await runOffline(loadStackConfig("staging"), {
            hook: async (args) => (args.type === SECURITY_GROUP_TYPE ? { id: securityGroupId(args.name), state: { ...args.inputs } } : undefined),
        });
    });

    it("backend host: SSH from the deploy runner only (Instance Connect has no stand-in), HTTPS from the load balancer only", () => {
        const rules = admitRules(run.resources, "pakashop-staging-backend-1-instance", placement);
        assert.deepEqual(summary(rules), [
            `tcp 22-22 from ${RUNNER}`,
            `tcp 443-443 from ${LOAD_BALANCER}`,
        ]);
        assert.match(rules[0].sources.join("\n"), /pakashop-staging-instance-connect-sg: no member in the test network \(pakashop-staging-instance-connect-endpoint\)/);
    });

    it("load balancer: HTTPS from Cloudflare's IPv4 ranges only (its groups come from its `securityGroups` input)", () => {
        assert.deepEqual(summary(admitRules(run.resources, "pakashop-staging-lb", placement)), [`tcp 443-443 from ${CLOUDFLARE_IPV4.join(",")}`]);
    });

    it("data hosts: their port from the backend only, SSH from the deploy runner only", () => {
        assert.deepEqual(summary(admitRules(run.resources, "pakashop-staging-cache-host-instance", placement)),
            ["tcp 6379-6379 from 10.216.0.10", `tcp 22-22 from ${RUNNER}`]);
        assert.deepEqual(summary(admitRules(run.resources, "pakashop-staging-search-host-instance", placement)),
            ["tcp 7700-7700 from 10.216.0.10", `tcp 22-22 from ${RUNNER}`]);
    });

    it("renders one nft transaction: drop by default, stateful, loopback free, one accept per admitted family", function () {
        const ruleset = renderRuleset("pakashop-staging-cache-host-instance", admitRules(run.resources, "pakashop-staging-cache-host-instance", placement));
        assert.match(ruleset, /^table inet pakashop_sg\ndelete table inet pakashop_sg\ntable inet pakashop_sg \{$/m);
        assert.match(ruleset, /policy drop;/);
        assert.deepEqual(ruleset.split("\n").filter((l) => l.trim().endsWith("accept")).map((l) => l.trim()), [
            'iif "lo" accept',
            "ct state established,related accept",
            "ip saddr { 10.216.0.10 } tcp dport 6379 accept",
            `ip saddr { ${RUNNER} } tcp dport 22 accept`,
        ]);
        // nft's own check, where this machine allows it (root, nftables installed): in a
        // throwaway network namespace, so nothing of the machine's is touched.
        if (process.getuid?.() !== 0 || spawnSync("sh", ["-c", "command -v nft"]).status !== 0) return this.skip();
        const check = spawnSync("unshare", ["--net", "nft", "-c", "-f", "-"], { input: ruleset, encoding: "utf8" });
        assert.equal(check.status, 0, check.stderr);
    });

    it("refuses what it can't translate instead of leaving it open", () => {
        const group = run.resources.find((r) => r.type === SECURITY_GROUP_TYPE && r.name === "pakashop-staging-backend-sg") as PlannedResource;
        const withIngress = (ingress: unknown[]) => run.resources.map((r) => (r === group ? { ...r, inputs: { ...r.inputs, ingress } } : r));
        assert.throws(() => admitRules(withIngress([{ protocol: "gre", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }]), "pakashop-staging-backend-1-instance", placement), /protocol gre/);
        assert.throws(() => admitRules(withIngress([{ protocol: "tcp", fromPort: 22, toPort: 22, prefixListIds: ["pl-1"] }]), "pakashop-staging-backend-1-instance", placement), /prefix lists/);
        const extra = { ...group, type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name: "extra" };
        assert.throws(() => admitRules([...run.resources, extra], "pakashop-staging-backend-1-instance", placement), /separate rule resources/);
    });
});

describe("e2e stage: the stand-in for EC2's console API", () => {
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-console-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("the program's host-key script reads the key the stand-in's console shows; an unknown instance fails as the CLI does", () => {
        const standin = installConsoleStandin(dir);
        const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMJgf/d9aQvz+fZ8dcce5+AUExc3w33Y16c/b22p47Pz";
        standin.setConsole("i-0123456789abcdef0", `${key} root@backend`);
        const env = { ...process.env, PATH: `${standin.binDir}:${process.env.PATH}`, PAKASHOP_REGION: "ap-south-1" };
        const read = spawnSync("/bin/bash", ["-c", renderConsoleHostKeyScript()], { env: { ...env, PAKASHOP_INSTANCE_ID: "i-0123456789abcdef0" }, encoding: "utf8" });
        assert.equal(read.status, 0, read.stderr);
        assert.equal(read.stdout, `${key}\n`);
        assert.deepEqual(standin.calls(), [["ec2", "get-console-output", "--region", "ap-south-1", "--instance-id", "i-0123456789abcdef0", "--latest", "--output", "text", "--query", "Output"]]);
        const unknown = spawnSync(path.join(standin.binDir, "aws"), ["ec2", "get-console-output", "--region", "ap-south-1", "--instance-id", "i-0123456789abcdef1",
            "--latest", "--output", "text", "--query", "Output"], { encoding: "utf8" });
        assert.equal(unknown.status, 255);
        assert.match(unknown.stderr, /InvalidInstanceID\.NotFound/);
        assert.equal(spawnSync(path.join(standin.binDir, "aws"), ["s3", "ls"]).status, 255);
    });

    it("the stand-in script passes shellcheck", function () {
        // Missing shellcheck fails the run once, in tests/support/testTools.ts's root hook.
        if (!onPath("shellcheck")) return this.skip();
        const result = spawnSync("shellcheck", ["--shell", "bash", "--severity=style", path.join(__dirname, "fixture", "aws-standin.sh")], { encoding: "utf8" });
        assert.equal(result.status, 0, result.stdout);
    });
});
