import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import { regenerate } from "../tools/readme";
import { exec, planStack } from "./helpers";

/** Runs `npm run plan -- ARGS` the way the script does, on this Node. */
function plan(...args: string[]) {
    return exec(process.execPath, ["--require", path.join(REPO_ROOT, "tools/register.js"), path.join(REPO_ROOT, "tools/plan.ts"), ...args], { cwd: REPO_ROOT });
}

describe("npm run plan", function () {
    this.timeout(120_000);
    const outputs: Record<string, string> = {};
    before(() => {
        for (const format of ["text", "json", "markdown"]) {
            const result = plan("--stack", "production", "--format", format);
            assert.equal(result.status, 0, result.output);
            outputs[format] = result.output;
        }
    });

    it("prints one JSON object with the documented schema", () => {
        const doc = JSON.parse(outputs.json);
        assert.deepEqual(Object.keys(doc).sort(), ["mode", "outputs", "placeholderSecrets", "policies", "project", "requirements", "resources", "rollout", "stack"]);
        assert.equal(doc.project, "pakashop-infra");
        assert.equal(doc.stack, "production");
        // Two backend hosts behind the load balancer (tests/program.spec.ts counts them by type).
        assert.equal(doc.resources.length, 154);
        for (const r of doc.resources) {
            assert.deepEqual(Object.keys(r), ["urn", "type", "name", "custom", "parent", "dependsOn", "inputs"]);
            assert.match(r.urn, /^urn:pulumi:production::pakashop-infra::\S+::\S+$/);
            assert.ok(Array.isArray(r.dependsOn) && r.dependsOn.every((u: string) => doc.resources.some((x: { urn: string }) => x.urn === u)));
        }
        assert.deepEqual(doc.rollout.waves.map((w: string[]) => w.length), [1, 1, 3, 14]);
        assert.deepEqual(doc.placeholderSecrets, ["pakashop-infra:deployPrivateKey"]);
        assert.equal(doc.outputs.branch, "production");
        // A preview of a new stack: policies that read values only known after the first
        // deploy (addresses, ARNs) can't run, and say so as advisories, as `pulumi preview`
        // does; nothing is mandatory.
        assert.equal(doc.mode, "preview");
        assert.ok(doc.policies.violations.length > 0);
        for (const v of doc.policies.violations) {
            assert.equal(v.enforcementLevel, "advisory", v.message);
            assert.match(v.message, /^can't run policy '[a-z0-9-]+' from policy pack 'pakashop-infra@v0\.1\.0' during preview: /);
        }
    });

    it("never prints a secret, in any format", () => {
        const key = loadStackConfig("production").config["pakashop-infra:deployPrivateKey"];
        const keyBody = key.split("\n")[1];
        assert.ok(keyBody.length > 20);
        for (const [format, text] of Object.entries(outputs)) {
            assert.ok(!text.includes(keyBody), `${format} output holds the private key`);
            assert.doesNotMatch(text, /BEGIN [A-Z ]*PRIVATE KEY-----(\\n|\n)[A-Za-z0-9+/]/, `${format} output holds a private key`);
            // The mocks' generated passwords (database, Redis, Meilisearch) are secrets too.
            assert.ok(!text.includes("mockpassword"), `${format} output holds a generated password`);
        }
        // A remote step's connection is unknown in a preview (built from the host's address):
        // "[unknown]", not "[secret]" (it is no secret of its own; its private key is, once known).
        assert.match(outputs.json, /"connection": "\[unknown\]"/);
        assert.doesNotMatch(outputs.json, /"connection": "\[secret\]"/);
        // A secret stays hidden, known or not: a deploy's environment file on stdin.
        assert.match(outputs.json, /"stdin": "\[secret\]"/);
        // User data holds no secret any more (hosts make their own host keys): shown in full,
        // and with no key but the deploy public key in it.
        const instances = JSON.parse(outputs.json).resources.filter((r: { type: string }) => r.type === "aws:ec2/instance:Instance");
        assert.equal(instances.length, 4);
        for (const instance of instances) {
            const userData = String(instance.inputs.userData);
            assert.match(userData, /^#cloud-config\n/, instance.name);
            assert.doesNotMatch(userData, /PRIVATE KEY|ssh_keys/, instance.name);
        }
    });

    it("text and markdown show the components and the four waves", () => {
        assert.match(outputs.text, /^  pakashop:hosts:BackendFleet  pakashop-production-backend$/m);
        assert.match(outputs.text, /^    pakashop:hosts:BackendHost  pakashop-production-backend-2$/m);
        assert.match(outputs.text, /^  pakashop:edge:LoadBalancer  pakashop-production-lb$/m);
        assert.match(outputs.text, /^  3\. backend, search, analytics$/m);
        assert.match(outputs.text, /Placeholder secrets .*pakashop-infra:deployPrivateKey/);
        assert.match(outputs.markdown, /^### Plan for `production`: 154 resources$/m);
        assert.match(outputs.markdown, /^2\. `gateway`$/m);
    });

    it("exits 2 on a bad command line and 1 on an unknown stack", () => {
        const usage = plan("--stack", "production", "--format", "yaml");
        assert.equal(usage.status, 2);
        assert.match(usage.output, /--format must be one of text, json, markdown, sarif, not yaml/);
        assert.equal(plan().status, 2);
        const unknown = plan("--stack", "prod");
        assert.equal(unknown.status, 1);
        assert.match(unknown.output, /no stack file Pulumi\.prod\.yaml; stacks here: production, staging/);
    });
});

describe("README", () => {
    it("its generated blocks (the rollout diagram, the policy table, the topology) are up to date: run npm run readme", async () => {
        const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
        assert.equal(await regenerate(readme, { runTopologyStack: () => planStack("production") }), readme);
        assert.match(readme, /core --> supporting/);
        assert.match(readme, /^  cloudflare_edge -->\|"tcp 443"\| lb$/m);
        assert.match(readme, /^\| `aws-rds-instance-enable-multi-az` \| medium \| mandatory \| advisory \|/m);
    });
});
