/**
 * The README's release flow diagram (tools/releaseFlow.ts) against the workflows it is drawn
 * from: the gate is on it because the workflows have it, and a workflow without it draws none.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { STAGING_VERIFICATION_CONTEXT } from "../tools/github/statusContext";
import { renderReleaseFlow } from "../tools/releaseFlow";
import { REPO_ROOT } from "../tools/stackConfig";

/** A copy of the workflows and actions, with `edit` applied to one workflow's parsed YAML. */
function copyWith(file: string, edit: (doc: Record<string, any>) => void): string { // eslint-disable-line @typescript-eslint/no-explicit-any
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-flow-"));
    fs.cpSync(path.join(REPO_ROOT, ".github"), path.join(dir, ".github"), { recursive: true });
    const target = path.join(dir, ".github", "workflows", file);
    const doc = YAML.parse(fs.readFileSync(target, "utf8"));
    edit(doc);
    fs.writeFileSync(target, YAML.stringify(doc));
    return dir;
}

describe("release flow diagram (tools/releaseFlow.ts)", () => {
    const flow = renderReleaseFlow();
    const edges = flow.split("\n").filter((l) => /-->|-\.->/.test(l)).map((l) => l.trim());

    it("shows the staging verification and the gate: verdict posts the status, the promotion requires it, the gate reads it before the backup", () => {
        for (const edge of [
            "merge_main --> s_deploy",
            "s_smoke_and_load --> s_verdict",
            "s_playwright --> s_verdict",
            's_verdict -.->|"posts"| status',
            'status -.->|"read by"| p_gate',
            'status -.->|"required check"| promotion',
            'promotion -->|"merge, or a dispatch of the revision"| p_gate',
            'promotion -->|"emergency: a dispatch with bypass_reason"| p_gate_bypass',
            "p_gate --> p_backup",
            "p_gate_bypass --> p_backup",
            "p_backup --> p_deploy",
        ]) assert.ok(edges.includes(edge), `missing ${edge} in\n${edges.join("\n")}`);
        assert.match(flow, /p_gate_bypass\["gate-bypass<br\/>environment production-gate-bypass"\]/);
        assert.ok(!edges.some((e) => /status -\.->\|"read by"\| p_gate_bypass/.test(e)), "the bypass reads no status");
    });

    it("draws from the workflows: without the verdict's action there is no status edge; a backup that no longer needs the gate loses its edge", () => {
        const noVerdict = copyWith("deploy-staging.yml", (doc) => {
            doc.jobs.verdict.steps = doc.jobs.verdict.steps.filter((s: { uses?: string }) => !String(s.uses).includes("staging-verdict"));
        });
        const noGate = copyWith("deploy-production.yml", (doc) => {
            doc.jobs.backup.needs = ["gate-bypass"];
        });
        try {
            assert.doesNotMatch(renderReleaseFlow(noVerdict), /-\.->\|"posts"\|/);
            assert.ok(!renderReleaseFlow(noGate).includes("p_gate --> p_backup"));
        } finally {
            for (const dir of [noVerdict, noGate]) fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("docs on the staging verification gate match the workflows", () => {
    const runbook = fs.readFileSync(path.join(REPO_ROOT, "docs", "runbook.md"), "utf8");
    const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    const production = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, ".github", "workflows", "deploy-production.yml"), "utf8"));
    const staging = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, ".github", "workflows", "deploy-staging.yml"), "utf8"));

    it("the runbook's bypass command uses the workflow's input, and names the bypass environment and the verifier variable", () => {
        const inputs = Object.keys(production.on.workflow_dispatch.inputs);
        const bypass = /-f bypass_reason="[^"]+"/.exec(runbook);
        assert.ok(bypass && inputs.includes("bypass_reason"), "the runbook dispatches with the workflow's bypass input");
        assert.ok(runbook.includes(`\`${production.jobs["gate-bypass"].environment}\``));
        assert.ok(runbook.includes("STAGING_VERIFIER_LOGIN") && JSON.stringify(production.jobs.gate).includes("vars.STAGING_VERIFIER_LOGIN"));
    });

    it("the runbook's ruleset requires the verdict's status from the verifier App only, merge commits, and lets only the platform leads (pull requests) and the recorder App (its records) bypass", () => {
        const block = /gh api repos\/pakashop\/pakashop-infra\/rulesets -X POST --input - <<'JSON'\n([\s\S]*?)\n\s*JSON\n/.exec(runbook);
        assert.ok(block, "the runbook creates the ruleset with gh api");
        // The placeholders are the only non-JSON in it.
        const ids: Record<string, number> = { "<team id>": 1, "<verifier app id>": 2, "<recorder app id>": 3 };
        const ruleset = JSON.parse(block[1].replace(/<[a-z ]+>/g, (m) => String(ids[m] ?? assert.fail(`unknown placeholder ${m}`))));
        assert.deepEqual(ruleset.conditions.ref_name.include, ["refs/heads/production"]);
        assert.equal(ruleset.enforcement, "active");
        const rule = (type: string) => ruleset.rules.find((r: { type: string }) => r.type === type)?.parameters;
        assert.deepEqual(rule("required_status_checks").required_status_checks, [{ context: STAGING_VERIFICATION_CONTEXT, integration_id: 2 }]);
        assert.deepEqual(rule("pull_request").allowed_merge_methods, ["merge"]);
        assert.deepEqual(ruleset.bypass_actors, [
            { actor_id: 1, actor_type: "Team", bypass_mode: "pull_request" },
            { actor_id: 3, actor_type: "Integration", bypass_mode: "always" },
        ]);
        // The recorder's pushes are the ones Deploy production skips.
        assert.match(JSON.stringify(production), /vars\.RELEASE_RECORDER_LOGIN/);
    });

    it("every environment the verification, the gate and the production record run in is in the runbook's setup table and the README's", () => {
        const environments = [staging.jobs.playwright, staging.jobs.verdict, production.jobs.gate, production.jobs["gate-bypass"], production.jobs.record].map((j) => String(j.environment));
        assert.deepEqual([...new Set(environments)].sort(), ["production-gate", "production-gate-bypass", "production-record", "staging-verification"]);
        for (const env of environments) {
            assert.match(runbook, new RegExp(`\\n\\s+\\| \`${env}\` \\|`), `runbook section 9 lists ${env}`);
            assert.match(readme, new RegExp(`\\n\\| \`${env}\` `), `README lists ${env}`);
        }
    });
});
