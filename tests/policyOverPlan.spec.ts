/**
 * `npm run policy -- --plan FILE`: the pack judges a plan saved by `npm run plan -- --format
 * json` and gives the live run's verdict; a value hidden as "[secret]" makes the policy that
 * touches it advisory ("can't run"), never a pass or a violation, and the verdicts are compared
 * by reason (a value unknown in a preview is not a hidden secret); the plan hides only secret
 * leaves (a preview's remote connection is "[unknown]", not "[secret]"); bad input is one line and exit 1 (bad file) or 2 (bad command line).
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { judgePlan } from "../tools/policy";
import { Violation } from "../tools/policyCheck";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import { exec } from "./helpers";

const tool = (script: string, ...args: string[]) =>
    exec(process.execPath, ["--require", path.join(REPO_ROOT, "tools/register.js"), path.join(REPO_ROOT, "tools", script), ...args], { cwd: REPO_ROOT });
const policy = (...args: string[]) => tool("policy.ts", ...args);

/**
 * Why a policy could not run, from its "can't run" message: the value it touched and whether
 * that value was unknown (a preview's) or a secret hidden in the saved plan. Any other wording
 * is kept whole, so it can only match itself.
 */
function cantRunReason(message: string): string {
    const at = /value at (\.\S+)/.exec(message)?.[1] ?? "?";
    if (/can't be known during preview$/.test(message)) return `can't run: unknown at ${at}`;
    if (/ over the saved plan: value at \S+ is a secret, hidden in the saved plan$/.test(message)) return `can't run: secret at ${at}`;
    return message;
}

/** What the verdict is per resource: a "can't run" advisory by its reason (unknown or secret, and where), not its wording. */
function verdict(violations: Violation[]): string[] {
    return violations.map((v) => [v.policy, v.urn, v.enforcementLevel, v.severity, v.message.startsWith("can't run policy") ? cantRunReason(v.message) : v.message].join(" | ")).sort();
}

type SavedResource = { name: string; type: string; urn: string; inputs: Record<string, unknown> };
const REMOTE_STEP = "command:remote:Command";

/** A leaf of a connection as the plan shows it: every leaf of a connection unknown as a whole is "[unknown]". */
function connectionLeaf(connection: unknown, key: string): unknown {
    return connection === "[unknown]" ? connection : (connection as Record<string, unknown>)[key];
}

function oneLineError(output: string): string {
    const lines = output.trim().split("\n");
    assert.doesNotMatch(output, /^\s+at /m, `stack trace in: ${output}`);
    return lines[0];
}

describe("npm run policy -- --plan (policies over a saved plan)", function () {
    this.timeout(240_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-plan-"));
    const saved: Record<string, { file: string; status: number; text: string }> = {};
    const file = (name: string, content: string) => {
        const f = path.join(dir, name);
        fs.writeFileSync(f, content);
        return f;
    };

    before(() => {
        for (const stack of ["production", "staging"]) {
            for (const mode of ["preview", "applied"]) {
                const run = tool("plan.ts", "--stack", stack, "--format", "json", "--mode", mode);
                assert.ok([0, 5].includes(run.status), run.output);
                saved[`${stack}-${mode}`] = { file: file(`${stack}-${mode}.json`, run.output), status: run.status, text: run.output };
            }
        }
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    for (const stack of ["production", "staging"]) {
        for (const mode of ["preview", "applied"]) {
            it(`${stack}, ${mode}: the same verdict and exit code as npm run plan`, () => {
                const live = saved[`${stack}-${mode}`];
                const judged = policy("--plan", live.file, "--format", "json");
                assert.equal(judged.status, live.status, judged.output);
                const before = JSON.parse(live.text);
                const after = JSON.parse(judged.output);
                assert.deepEqual(verdict(after.policies.violations), verdict(before.policies.violations));
                // The output is the plan itself, with the verdict: read back, it is the same plan.
                assert.deepEqual({ ...after, policies: undefined }, { ...before, policies: undefined });
            });
        }
    }

    it("prints every format of npm run plan, the same as the plan prints it", () => {
        const { file: f } = saved["production-preview"];
        for (const format of ["text", "markdown", "sarif"]) {
            const live = tool("plan.ts", "--stack", "production", "--format", format);
            const judged = policy("--plan", f, "--format", format, "--stack", "production");
            assert.equal(judged.status, live.status);
            if (format === "sarif") assert.deepEqual(JSON.parse(judged.output).runs[0].results.map((r: { ruleId: string }) => r.ruleId).sort(),
                JSON.parse(live.output).runs[0].results.map((r: { ruleId: string }) => r.ruleId).sort());
            else assert.equal(judged.output.replace(/can't run policy [^\n|]*/g, "can't run"), live.output.replace(/can't run policy [^\n|]*/g, "can't run"), format);
        }
    });

    it("a mandatory violation in the saved plan exits 5, as npm run plan does", () => {
        const doc = JSON.parse(saved["production-applied"].text);
        const db = doc.resources.find((r: { type: string }) => r.type === "aws:rds/instance:Instance");
        db.inputs.publiclyAccessible = true;
        const judged = policy("--plan", file("public-db.json", JSON.stringify(doc)));
        assert.equal(judged.status, 5, judged.output);
        assert.match(judged.output, /\[mandatory, critical\] aws-rds-instance-disallow-public-access: pakashop-production-database-instance: .*publiclyAccessible is true/);
    });

    for (const stack of ["production", "staging"]) {
        it(`${stack}, applied: the plan hides secret leaves only: a connection's host, host key and user are visible, its private key is not`, () => {
            const doc = JSON.parse(saved[`${stack}-applied`].text);
            const steps = doc.resources.filter((r: SavedResource) => r.type === REMOTE_STEP);
            assert.ok(steps.length > 0);
            for (const step of steps) {
                const c = step.inputs.connection;
                assert.equal(typeof c, "object", step.name);
                assert.match(c.host, /^\d+\.\d+\.\d+\.\d+$/, step.name);
                assert.match(c.hostKey, /^ssh-ed25519 /, step.name);
                assert.equal(c.user, "admin");
                assert.equal(c.privateKey, "[secret]");
                assert.match(step.inputs.create, /\S/, `${step.name}: its script is shown`);
            }
        });

        it(`${stack}, preview: a remote step's connection host and host key are [unknown] (unknown in a preview), never [secret]`, () => {
            const doc = JSON.parse(saved[`${stack}-preview`].text);
            assert.equal(doc.mode, "preview");
            const steps = doc.resources.filter((r: SavedResource) => r.type === REMOTE_STEP);
            assert.ok(steps.length > 0);
            for (const step of steps) {
                const c = step.inputs.connection;
                assert.notEqual(c, "[secret]", `${step.name}: the connection is hidden as a secret`);
                for (const key of ["host", "hostKey"]) assert.equal(connectionLeaf(c, key), "[unknown]", `${step.name}: connection.${key}`);
                assert.match(step.inputs.create, /\S/, `${step.name}: its script is shown`);
                assert.notEqual(step.inputs.create, "[secret]", `${step.name}: its script is hidden as a secret`);
            }
            // What the live preview could not see, the saved plan's policies cannot either, for the same reason.
            const live = doc.policies.violations.filter((v: Violation) => v.policy === "command-remote-enforce-host-key");
            assert.ok(live.length > 0 && live.every((v: Violation) => cantRunReason(v.message) === "can't run: unknown at .connection"), JSON.stringify(live));
        });
    }

    it("the verdict tells an unknown from a secret: a preview's connection shown as [secret] (as plans once did) is not the live verdict", async () => {
        const doc = JSON.parse(saved["production-preview"].text);
        const before = verdict(doc.policies.violations);
        for (const step of doc.resources.filter((r: SavedResource) => r.type === REMOTE_STEP)) step.inputs.connection = "[secret]";
        const judged = await judgePlan(doc);
        const after = verdict(judged.violations);
        assert.notDeepEqual(after, before);
        assert.ok(after.some((v) => v.startsWith("command-remote-enforce-host-key | ") && v.endsWith("can't run: secret at .connection")), after.join("\n"));
        assert.deepEqual(after.filter((v) => !v.startsWith("command-remote-enforce-host-key | ")), before.filter((v) => !v.startsWith("command-remote-enforce-host-key | ")));
    });

    it("no saved plan holds the private key", () => {
        const key = loadStackConfig("production").config["pakashop-infra:deployPrivateKey"];
        for (const text of Object.values(saved).map((s) => s.text)) {
            assert.ok(!text.includes(key.split("\n")[1]), "a saved plan holds the private key");
            assert.doesNotMatch(text, /BEGIN [A-Z ]*PRIVATE KEY-----(\\n|\n)[A-Za-z0-9+/]|mockpassword/);
        }
    });

    it("a policy-relevant value hidden as [secret] makes the policy advisory (can't run), neither a pass nor a violation", async () => {
        const doc = JSON.parse(saved["production-applied"].text);
        const sg = doc.resources.find((r: { name: string }) => r.name === "pakashop-production-backend-sg");
        sg.inputs.ingress = "[secret]";
        const step = doc.resources.find((r: { name: string }) => r.name.endsWith("-cache-provision"));
        step.inputs.connection.hostKey = "[secret]";
        const judged = await judgePlan(doc);
        for (const [name, urn] of [["aws-ec2-securitygroup-disallow-public-ssh", sg.urn], ["command-remote-enforce-host-key", step.urn]]) {
            const own = judged.violations.filter((v) => v.policy === name && v.urn === urn);
            assert.equal(own.length, 1, `${name}: ${JSON.stringify(judged.violations)}`);
            assert.equal(own[0].enforcementLevel, "advisory");
            assert.match(own[0].message, new RegExp(`^can't run policy '${name}' from policy pack 'pakashop-infra@v[0-9.]+' over the saved plan: value at \\.[a-zA-Z.]+ is a secret, hidden in the saved plan`));
        }
        assert.equal(judged.exitCode, 0);
        // The same through the command.
        const run = policy("--plan", file("hidden.json", JSON.stringify(doc)));
        assert.equal(run.status, 0, run.output);
        assert.match(run.output, /\[advisory, critical\] command-remote-enforce-host-key: pakashop-production-cache-provision: can't run policy .* over the saved plan/);
    });

    it("bad file, not JSON, wrong schema, unknown stack: exit 1 with one line naming the file and the problem", () => {
        const doc = JSON.parse(saved["production-preview"].text);
        const cases: [string[], RegExp][] = [
            [["--plan", path.join(dir, "missing.json")], /^error: plan .*missing\.json: no such file$/],
            [["--plan", dir], /^error: plan .*: is a directory$/],
            [["--plan", file("text.json", "resources: []\n")], /^error: plan .*text\.json: not JSON \(.*\); write it with npm run plan/],
            [["--plan", file("array.json", "[]")], /^error: plan .*array\.json: the document: must be a JSON object/],
            [["--plan", file("no-resources.json", JSON.stringify({ ...doc, resources: undefined }))], /^error: plan .*no-resources\.json: plan\.resources: missing$/],
            [["--plan", file("inputs.json", JSON.stringify({ ...doc, resources: [{ ...doc.resources[0], inputs: "x" }] }))], /^error: plan .*inputs\.json: plan\.resources\[0\]\.inputs: must be an object$/],
            [["--plan", file("old.json", JSON.stringify({ ...doc, resources: doc.resources.map(({ custom: _c, ...r }: { custom: boolean }) => r) }))], /^error: plan .*old\.json: plan\.resources\[0\]\.custom: missing \(a plan written before/],
            [["--plan", file("mode.json", JSON.stringify({ ...doc, mode: "live" }))], /^error: plan .*mode\.json: plan\.mode: must be "preview" or "applied", not "live"$/],
            [["--plan", file("qa.json", JSON.stringify({ ...doc, stack: "qa" }))], /^error: plan .*qa\.json: plan\.stack: no stack qa here \(no Pulumi\.qa\.yaml; stacks here: production, staging\)$/],
            [["--plan", saved["production-preview"].file, "--stack", "staging"], /^error: plan .*: plan\.stack: the plan is for stack production, not staging$/],
            [["--plan", saved["production-preview"].file, "--stack", "prod"], /^error: no stack file Pulumi\.prod\.yaml; stacks here: production, staging$/],
        ];
        for (const [args, expected] of cases) {
            const run = policy(...args);
            assert.equal(run.status, 1, `${args.join(" ")}: ${run.output}`);
            assert.match(oneLineError(run.output), expected);
            assert.equal(run.output.trim().split("\n").length, 1, run.output);
        }
    });

    it("bad command line: exit 2 with the usage", () => {
        for (const args of [[], ["--format", "json"], ["--plan", "x.json", "--format", "yaml"], ["--plan", "x.json", "--mode", "applied"], ["--plan"]]) {
            const run = policy(...args);
            assert.equal(run.status, 2, `${args.join(" ")}: ${run.output}`);
            oneLineError(run.output);
            assert.match(run.output, /^usage: npm run policy -- --plan FILE/m);
        }
    });
});
