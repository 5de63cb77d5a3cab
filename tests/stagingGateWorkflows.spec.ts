/**
 * The staging verification gate as the workflows wire it (issue 14): Deploy staging verifies
 * staging and posts the commit status `staging-verification`; Deploy production runs its backup
 * and deploy only after the gate (or an approved emergency bypass) succeeded.
 *
 * The job graphs run through tests/support/workflowRun.ts (GitHub's documented `needs`/`if`
 * rules) on the real workflow files, and the verdict action's script runs for real, with a
 * stand-in `gh` that records its arguments, on the needs context each simulated run hands it.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { STAGING_VERIFICATION_CONTEXT } from "../tools/github/statusContext";
import { REPO_ROOT } from "../tools/stackConfig";
import { evaluateExpression, evaluateIf, ExpressionScope, JobRun, parseExpression, RunSetup, SIMULATED_RUN_ID, simulateRun } from "./support/workflowRun";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const WORKFLOWS = path.join(REPO_ROOT, ".github/workflows");
const ACTIONS = path.join(REPO_ROOT, ".github/actions");
const load = (file: string): Doc => YAML.parse(fs.readFileSync(path.join(WORKFLOWS, file), "utf8"));
const loadAction = (dir: string): Doc => YAML.parse(fs.readFileSync(path.join(ACTIONS, dir, "action.yml"), "utf8"));
const workflowFiles = fs.readdirSync(WORKFLOWS).filter((f) => f.endsWith(".yml")).sort();

/** A services monorepo revision, this repository's deployed commit, and the record's commit. */
const REVISION = "4f1c2d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d";
const DEPLOYED = "0123456789abcdef0123456789abcdef01234567";
const RECORD = "fedcba9876543210fedcba9876543210fedcba98";
const INFRA = "pakashop/pakashop-infra";
const MONOREPO = "pakashop/pakashop";
const RUN_URL = "https://github.com/pakashop/pakashop-infra/actions/runs/42";
/** Staging's frontend, where the monorepo's Playwright suite runs. */
const STAGING_URL = "https://staging.pakashop.store";

const scratch: string[] = [];
function tempDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-gate-workflows-"));
    scratch.push(dir);
    return dir;
}

/** One `gh` call: the token it had and its arguments. */
interface GhCall { token: string; args: string[] }

/** Runs a script as the runner runs a `shell: bash` step, with stand-ins for `gh` and `npm` that record their calls. */
function runStep(script: string, env: Record<string, string>, options: { npmBody?: string } = {}) {
    const dir = tempDir();
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const log = path.join(dir, "calls");
    for (const name of ["gh", "npm"]) {
        const body = name === "npm" && options.npmBody !== undefined ? options.npmBody : "";
        fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n{ echo "${name} token=\${GH_TOKEN:-}"; printf '%s\\n' "$@"; echo "--end--"; } >> ${log}\n${body}\n`, { mode: 0o755 });
    }
    const summary = path.join(dir, "summary");
    fs.writeFileSync(summary, "");
    const output = path.join(dir, "output");
    fs.writeFileSync(output, "");
    const file = path.join(dir, "step.sh");
    fs.writeFileSync(file, script);
    const result = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", file], {
        cwd: dir, encoding: "utf8",
        env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir, GITHUB_STEP_SUMMARY: summary, GITHUB_OUTPUT: output, GITHUB_REPOSITORY: INFRA, ...env },
    });
    const calls = (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "").split("--end--\n").filter(Boolean).map((block) => {
        const [head, ...args] = block.replace(/\n$/, "").split("\n");
        return { command: head.split(" ")[0], call: { token: head.replace(/^\S+ token=/, ""), args } };
    });
    return {
        status: result.status, stdout: result.stdout, stderr: result.stderr, summary: fs.readFileSync(summary, "utf8"), output: fs.readFileSync(output, "utf8"),
        gh: calls.filter((c) => c.command === "gh").map((c) => c.call), npm: calls.filter((c) => c.command === "npm").map((c) => c.call),
    };
}

const verdictStep = () => {
    const steps = loadAction("staging-verdict").runs.steps as Doc[];
    assert.equal(steps.length, 1);
    return steps[0];
};

/** Runs the verdict action's script on a needs context, as the verdict job hands it over. */
function runVerdict(needs: JobRun["needs"], event: string) {
    return runStep(verdictStep().run, {
        NEEDS: JSON.stringify(needs), EVENT: event, SERVICES_REPOSITORY: MONOREPO, TOKEN: VERIFICATION_TOKEN, RUN_URL,
    });
}

/** Stands for the staging verifier App's installation token the verdict posts both statuses with. */
const VERIFICATION_TOKEN = "verifier-app-installation-token";

/** The exact call the verdict makes to post a status: always with the verifier App's token. */
const status = (repository: string, commit: string, state: "success" | "failure", description: string): GhCall => ({
    token: VERIFICATION_TOKEN,
    args: ["api", `repos/${repository}/statuses/${commit}`, "-f", `state=${state}`, "-f", `context=${STAGING_VERIFICATION_CONTEXT}`, "-f", `description=${description}`, "-f", `target_url=${RUN_URL}`],
});
const onInfra = (commit: string, state: "success" | "failure", description: string) => status(INFRA, commit, state, description);
const onMonorepo = (state: "success" | "failure", description: string) => status(MONOREPO, REVISION, state, description);

const ran = (runs: Record<string, JobRun>) => Object.entries(runs).filter(([, r]) => r.ran).map(([id]) => id);
const results = (runs: Record<string, JobRun>) => Object.fromEntries(Object.entries(runs).map(([id, r]) => [id, r.result]));

const scope = (over: Partial<ExpressionScope> = {}): ExpressionScope => ({
    event: "push", inputs: null, needs: {}, status: { success: true, failure: false, cancelled: false }, ...over,
});

describe("workflow simulator (tests/support/workflowRun.ts)", () => {
    it("evaluates the expression subset the workflows use, with GitHub's operators and coercions", () => {
        const needs = { gate: { result: "skipped" as const, outputs: {} }, "gate-bypass": { result: "success" as const, outputs: { x: "1" } } };
        assert.equal(evaluateIf("${{ !cancelled() && (needs.gate.result == 'success' || needs['gate-bypass'].result == 'success') }}", scope({ needs })), true);
        assert.equal(evaluateIf("${{ !cancelled() && (needs.gate.result == 'success' || needs['gate-bypass'].result == 'success') }}", scope({ needs, status: { success: false, failure: false, cancelled: true } })), false);
        assert.equal(evaluateIf("needs.gate-bypass.outputs.x == '1'", scope({ needs })), true);
        assert.equal(evaluateIf("needs.gate-bypass.outputs.missing == ''", scope({ needs })), true);
        assert.equal(evaluateIf("github.event_name != 'push'", scope()), false);
        assert.equal(evaluateIf("github.event_name == 'PUSH'", scope()), true, "strings compare ignoring case");
        assert.equal(evaluateIf("inputs.bypass_reason == ''", scope()), true, "null (no inputs on a push) equals '' after coercion");
        assert.equal(evaluateIf("inputs.bypass_reason != ''", scope({ event: "workflow_dispatch", inputs: { bypass_reason: "outage" } })), true);
        assert.equal(evaluateIf("!(true && false) && 1 == '1' && null == false", scope()), true);
        assert.equal(evaluateIf("'a' == 'b' || 'fallback'", scope()), true, "|| returns an operand: a non-empty string is truthy");
        assert.equal(evaluateIf("always()", scope({ status: { success: false, failure: true, cancelled: false } })), true);
        assert.equal(evaluateIf("failure()", scope({ status: { success: false, failure: true, cancelled: false } })), true);
        assert.equal(evaluateIf("'it''s' == 'IT''S'", scope()), true);
        // github.actor, configuration variables (unset: ''), format().
        assert.equal(evaluateIf("github.actor == vars.LOGIN", scope({ actor: "recorder[bot]", vars: { LOGIN: "recorder[bot]" } })), true);
        assert.equal(evaluateIf("github.actor == vars.LOGIN", scope({ actor: "recorder[bot]" })), false, "an unset variable is '', which no actor is");
        assert.equal(evaluateIf("vars.UNSET == ''", scope()), true);
        assert.equal(evaluateExpression("${{ format('a-{0}-{1}', github.run_id, github.event_name) }}", scope()), `a-${SIMULATED_RUN_ID}-push`);
        assert.equal(evaluateExpression("format('{{{0}}}', 'x')", scope()), "{x}", "{{ and }} are literal braces");
        assert.equal(evaluateExpression("github.event_name == 'push' && 'x' || 'y'", scope({ event: "workflow_dispatch", inputs: {} })), "y");
        assert.throws(() => evaluateExpression("success() && 'x'", scope()), /a status function outside an if/);
    });

    it("applies the default success() to an if without a status function, and to a job without an if", () => {
        const failed = scope({ status: { success: false, failure: true, cancelled: false } });
        assert.equal(evaluateIf(undefined, failed), false);
        assert.equal(evaluateIf("github.event_name == 'push'", failed), false);
        assert.equal(evaluateIf("${{ !cancelled() && github.event_name == 'push' }}", failed), true);
        assert.equal(evaluateIf(undefined, scope()), true);
    });

    it("refuses what it does not understand instead of guessing", () => {
        const refused: [string, RegExp][] = [
            ["contains(github.event_name, 'push')", /unsupported function contains\(\)/],
            ["success('x')", /success\(\) takes no arguments/],
            ["format(github.actor) == 'x'", /format\(\) needs a string literal first/],
            ["format('{1}', 'a') == 'x'", /format\(\) has no argument 1/],
            ["vars.A.B == ''", /unsupported context path vars\.A\.B/],
            ["toJSON(needs) == ''", /unsupported function toJSON\(\)/],
            ["github.ref == 'refs/heads/main'", /unsupported context path github\.ref/],
            ["env.STACK == 'staging'", /unsupported context env/],
            ["needs.deploy.result == 'success'", /needs\.deploy is not a job this job needs/],
            ["needs.gate.outputs == 'x'", /unsupported context path needs\.gate\.outputs/],
            ["inputs.unknown == ''", /inputs\.unknown is not a declared input/],
            ["1 < 2", /unsupported expression syntax at "< 2"/],
            ["needs[0].result", /only \['<name>'\] indexes are supported/],
            ["(true", /expected "\)"/],
            ["true false", /unexpected "false"/],
            ["'a' == 'a' == 'a'", /chained comparison/],
            ["${{ true }} && ${{ false }}", /several expressions/],
        ];
        const withNeeds = scope({ needs: { gate: { result: "success", outputs: {} } }, event: "workflow_dispatch", inputs: { bypass_reason: "" } });
        for (const [expression, error] of refused) assert.throws(() => evaluateIf(expression, withNeeds), error, expression);
        assert.throws(() => parseExpression("a ? b : c"), /unsupported expression syntax/);
    });

    it("skips a job whose need failed or was skipped, all the way down the chain, unless its if uses a status function", () => {
        const workflow = {
            on: { push: null },
            jobs: {
                a: {}, b: { needs: "a", if: "github.event_name != 'push'" }, c: { needs: "b", if: "${{ always() }}" },
                d: { needs: "c" }, e: { needs: "c", if: "${{ !cancelled() && needs.c.result == 'success' }}" }, f: { needs: "a" },
            },
        };
        const runs = simulateRun(workflow, { event: "push" });
        assert.deepEqual(results(runs), { a: "success", b: "skipped", c: "success", d: "skipped", e: "success", f: "success" },
            "d: its own need succeeded, but a skip up the chain skips a default success()");
        assert.deepEqual(runs.e.needs, { c: { result: "success", outputs: {} } }, "only direct needs are in the needs context");
        const failed = simulateRun(workflow, { event: "push", outcomes: { a: { result: "failure" } } });
        assert.deepEqual(results(failed), { a: "failure", b: "skipped", c: "success", d: "skipped", e: "success", f: "skipped" });
        const cancelled = simulateRun(workflow, { event: "push", cancelled: true });
        assert.deepEqual(ran(cancelled), ["c"], "always() runs even in a cancelled run; !cancelled() does not");
        assert.throws(() => simulateRun({ on: {}, jobs: { a: { needs: "z" } } }, { event: "push" }), /a needs z, which is not a job/);
        assert.throws(() => simulateRun({ on: {}, jobs: { a: { needs: "b" }, b: { needs: "a" } } }, { event: "push" }), /needs cycle/);
        assert.throws(() => simulateRun(workflow, { event: "push", outcomes: { a: { result: "success", outputs: { x: "1" } } } }), /a declares no output x/);
        assert.throws(() => simulateRun(workflow, { event: "push", inputs: { x: "1" } }), /a push run has no inputs/);
    });
});

// ---------------------------------------------------------------------------------------------
// Deploy staging: verification and verdict
// ---------------------------------------------------------------------------------------------

const DEPLOY_OUT = { revision: REVISION, pinned: "false", commit: DEPLOYED };
const PASSED = "passed: deploy, smoke-and-load, playwright";

interface StagingCase {
    readonly name: string;
    readonly setup: RunSetup;
    readonly ran: string[];
    readonly calls: GhCall[];
    /** A line the step summary must contain. */
    readonly summary?: RegExp;
}

const STAGING_CASES: StagingCase[] = [
    {
        name: "a push, all green: success on the deployed commit and on the monorepo revision",
        setup: { event: "push", outcomes: { deploy: { result: "success", outputs: DEPLOY_OUT } } },
        ran: ["deploy", "smoke-and-load", "playwright", "verdict"],
        calls: [onInfra(DEPLOYED, "success", PASSED), onMonorepo("success", PASSED)],
    },
    {
        name: "a push whose deploy failed: the verification is skipped, and the verdict still posts failure",
        setup: { event: "push", outcomes: { deploy: { result: "failure", outputs: DEPLOY_OUT } } },
        ran: ["deploy", "verdict"],
        calls: [
            onInfra(DEPLOYED, "failure", "failed: deploy failure, smoke-and-load skipped, playwright skipped"),
            onMonorepo("failure", "failed: deploy failure, smoke-and-load skipped, playwright skipped"),
        ],
    },
    {
        name: "a push whose smoke and load checks failed: failure",
        setup: { event: "push", outcomes: { deploy: { result: "success", outputs: DEPLOY_OUT }, "smoke-and-load": { result: "failure" } } },
        ran: ["deploy", "smoke-and-load", "playwright", "verdict"],
        calls: [onInfra(DEPLOYED, "failure", "failed: smoke-and-load failure"), onMonorepo("failure", "failed: smoke-and-load failure")],
    },
    {
        name: "a push whose Playwright run was cancelled: failure",
        setup: { event: "push", outcomes: { deploy: { result: "success", outputs: DEPLOY_OUT }, playwright: { result: "cancelled" } } },
        ran: ["deploy", "smoke-and-load", "playwright", "verdict"],
        calls: [onInfra(DEPLOYED, "failure", "failed: playwright cancelled"), onMonorepo("failure", "failed: playwright cancelled")],
    },
    {
        name: "a push to a stack with a pinned service: no status on the monorepo (it did not run that revision everywhere)",
        setup: { event: "push", outcomes: { deploy: { result: "success", outputs: { ...DEPLOY_OUT, pinned: "true" } } } },
        ran: ["deploy", "smoke-and-load", "playwright", "verdict"],
        calls: [onInfra(DEPLOYED, "success", PASSED)],
        summary: new RegExp(`no status on ${MONOREPO}@${REVISION}: staging pins services to other revisions`),
    },
    {
        name: "a push to a pinned stack whose checks failed: failure on the monorepo revision too (a failure only blocks)",
        setup: { event: "push", outcomes: { deploy: { result: "success", outputs: { ...DEPLOY_OUT, pinned: "true" } }, "smoke-and-load": { result: "failure" } } },
        ran: ["deploy", "smoke-and-load", "playwright", "verdict"],
        calls: [onInfra(DEPLOYED, "failure", "failed: smoke-and-load failure"), onMonorepo("failure", "failed: smoke-and-load failure")],
    },
    {
        name: "a deploy that failed before it reported its pins: failure on the monorepo revision, not silence",
        setup: { event: "push", outcomes: { deploy: { result: "failure", outputs: { ...DEPLOY_OUT, pinned: "" } } } },
        ran: ["deploy", "verdict"],
        calls: [
            onInfra(DEPLOYED, "failure", "failed: deploy failure, smoke-and-load skipped, playwright skipped"),
            onMonorepo("failure", "failed: deploy failure, smoke-and-load skipped, playwright skipped"),
        ],
    },
    {
        name: "a dispatch recorded right on the deployed commit: success on the record's commit and on the monorepo revision",
        setup: { event: "workflow_dispatch", inputs: { revision: REVISION }, outcomes: { deploy: { result: "success", outputs: DEPLOY_OUT }, record: { result: "success", outputs: { commit: RECORD, rebased: "false" } } } },
        ran: ["deploy", "record", "smoke-and-load", "playwright", "verdict"],
        calls: [onInfra(RECORD, "success", PASSED), onMonorepo("success", PASSED)],
    },
    {
        name: "a repository_dispatch from the monorepo, all green: the same",
        setup: { event: "repository_dispatch", outcomes: { deploy: { result: "success", outputs: DEPLOY_OUT }, record: { result: "success", outputs: { commit: RECORD, rebased: "false" } } } },
        ran: ["deploy", "record", "smoke-and-load", "playwright", "verdict"],
        calls: [onInfra(RECORD, "success", PASSED), onMonorepo("success", PASSED)],
    },
    {
        name: "a dispatch whose Playwright run failed: failure on both",
        setup: { event: "workflow_dispatch", outcomes: { deploy: { result: "success", outputs: DEPLOY_OUT }, record: { result: "success", outputs: { commit: RECORD, rebased: "false" } }, playwright: { result: "failure" } } },
        ran: ["deploy", "record", "smoke-and-load", "playwright", "verdict"],
        calls: [onInfra(RECORD, "failure", "failed: playwright failure"), onMonorepo("failure", "failed: playwright failure")],
    },
    {
        name: "a dispatch whose record had to be made on a newer head: no status on this repository's commit",
        setup: { event: "workflow_dispatch", outcomes: { deploy: { result: "success", outputs: DEPLOY_OUT }, record: { result: "success", outputs: { commit: RECORD, rebased: "true" } } } },
        ran: ["deploy", "record", "smoke-and-load", "playwright", "verdict"],
        calls: [onMonorepo("success", PASSED)],
        summary: new RegExp(`no status on ${INFRA}: the release record was made on a newer head`),
    },
    {
        name: "a dispatch whose record failed: the verification is skipped, failure on the monorepo, nothing on this repository",
        setup: { event: "workflow_dispatch", outcomes: { deploy: { result: "success", outputs: DEPLOY_OUT }, record: { result: "failure" } } },
        ran: ["deploy", "record", "verdict"],
        calls: [onMonorepo("failure", "failed: smoke-and-load skipped, playwright skipped, record failure")],
        summary: new RegExp(`no status on ${INFRA}: the release record was not pushed \\(record failure\\)`),
    },
    {
        name: "a dispatch whose deploy failed before resolving the revision: failure, with nowhere to post it but the summary",
        setup: { event: "workflow_dispatch", outcomes: { deploy: { result: "failure" } } },
        ran: ["deploy", "verdict"],
        calls: [],
        summary: /no status on pakashop\/pakashop: the deploy reported no services revision/,
    },
];

describe("Deploy staging: verification jobs and the staging-verification verdict", () => {
    after(() => scratch.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
    const staging = load("deploy-staging.yml");

    it("wires the verdict action to the run: needs as JSON, the event, the verifier App's token, this run's URL", () => {
        const verdict = staging.jobs.verdict;
        assert.deepEqual(verdict.needs, ["deploy", "record", "smoke-and-load", "playwright"]);
        assert.equal(verdict.if, "${{ !cancelled() }}");
        assert.equal(verdict.environment, "staging-verification");
        // No statuses scope: the job's GITHUB_TOKEN posts nothing (its statuses' creator, github-actions[bot], any workflow can be).
        assert.deepEqual(verdict.permissions, { contents: "read" });
        const step = (verdict.steps as Doc[]).find((s) => s.uses === "./.github/actions/staging-verdict")!;
        assert.deepEqual(step.with, {
            needs: "${{ toJSON(needs) }}", event: "${{ github.event_name }}", "services-repository": "${{ vars.SERVICES_REPOSITORY || 'pakashop/pakashop' }}",
            token: "${{ steps.token.outputs.token }}",
            "run-url": "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}",
        });
        // The verifier App's installation token, narrowed to the monorepo and this repository and
        // to commit statuses: the statuses' creator is the App, which the rulesets pin the check to.
        const verdictSteps = verdict.steps as Doc[];
        assert.deepEqual(verdictSteps.find((s) => s.id === "repositories"), {
            id: "repositories", uses: "./.github/actions/app-repositories", with: { "services-repository": "${{ vars.SERVICES_REPOSITORY || 'pakashop/pakashop' }}" },
        });
        assert.deepEqual(verdictSteps.find((s) => s.id === "token"), { id: "token", uses: "actions/create-github-app-token@v3.1.1", with: {
            "client-id": "${{ vars.STAGING_VERIFIER_CLIENT_ID }}", "private-key": "${{ secrets.STAGING_VERIFIER_PRIVATE_KEY }}",
            owner: "${{ steps.repositories.outputs.owner }}", repositories: "${{ steps.repositories.outputs.services }},${{ steps.repositories.outputs.this }}",
            "permission-statuses": "write",
        } });
        assert.deepEqual(verdictSteps.map((s) => s.id ?? s.uses), ["actions/checkout@v4.2.2", "repositories", "token", "./.github/actions/staging-verdict"]);
        assert.deepEqual(verdictStep().env, {
            NEEDS: "${{ inputs.needs }}", EVENT: "${{ inputs.event }}", SERVICES_REPOSITORY: "${{ inputs.services-repository }}",
            TOKEN: "${{ inputs.token }}", RUN_URL: "${{ inputs.run-url }}",
        });
        // One token for both statuses: no second input a caller could feed the job's GITHUB_TOKEN.
        assert.deepEqual(Object.keys(loadAction("staging-verdict").inputs), ["needs", "event", "services-repository", "token", "run-url"]);
        // The outputs the verdict reads exist, for every trigger.
        assert.deepEqual(staging.jobs.deploy.outputs, {
            revision: "${{ steps.revision.outputs.revision || steps.manifest.outputs.revision }}",
            pinned: "${{ steps.manifest.outputs.pinned }}", commit: "${{ steps.manifest.outputs.commit }}",
        });
        assert.deepEqual(staging.jobs.record.outputs, { commit: "${{ steps.record.outputs.commit }}", rebased: "${{ steps.record.outputs.rebased }}" });
        const manifest = (staging.jobs.deploy.steps as Doc[]).find((s) => s.id === "manifest")!;
        assert.equal(manifest.if, undefined, "for every trigger");
        const steps = staging.jobs.deploy.steps as Doc[];
        assert.ok(steps.indexOf(manifest) > steps.findIndex((s) => /npm run -s release -- "\$\{args/.test(s.run ?? "")), "after the dispatch's release step");
        assert.ok(steps.indexOf(manifest) < steps.findIndex((s) => /pulumi up/.test(s.run ?? "")), "before pulumi up (its outputs exist when the deploy fails)");
        for (const id of ["smoke-and-load", "playwright"]) {
            assert.deepEqual(staging.jobs[id].needs, ["deploy", "record"]);
            assert.equal(staging.jobs[id].if, "${{ !cancelled() && needs.deploy.result == 'success' && (needs.record.result == 'success' || (needs.record.result == 'skipped' && github.event_name == 'push')) }}");
        }
        const record = (staging.jobs.record.steps as Doc[]).find((s) => s.uses === "./.github/actions/record-release")!;
        assert.equal(record.with.deployed, "${{ needs.deploy.outputs.commit }}");
    });

    it("deploy: reports the manifest's revision, whether anything is pinned, and its checkout's commit", () => {
        const manifest = (staging.jobs.deploy.steps as Doc[]).find((s) => s.id === "manifest")!;
        for (const [pins, pinned] of [["{}", "false"], [`{"search":"${RECORD}"}`, "true"]]) {
            const dir = tempDir();
            spawnSync("git", ["init", "-q", dir]);
            spawnSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x"]);
            const head = spawnSync("git", ["-C", dir, "rev-parse", "HEAD"], { encoding: "utf8" }).stdout.trim();
            const run = runStep(`cd ${dir}\n${manifest.run}`, { STACK: "staging" }, { npmBody: `echo '{"revision":"${REVISION}","pins":${pins}}'` });
            assert.equal(run.status, 0, run.stderr);
            assert.deepEqual(run.npm.map((c) => c.args), [["run", "-s", "release", "--", "--stack", "staging", "--show"]]);
            assert.equal(run.stdout + run.stderr, "");
            assert.equal(run.output, `revision=${REVISION}\npinned=${pinned}\ncommit=${head}\n`);
        }
    });

    it("the verification jobs check out the commit the deploy ran, not main's head (main may have moved)", () => {
        for (const id of ["smoke-and-load", "playwright", "verdict"]) {
            const checkout = (staging.jobs[id].steps as Doc[])[0];
            assert.deepEqual(checkout, { uses: "actions/checkout@v4.2.2", with: { ref: "${{ needs.deploy.outputs.commit }}", "persist-credentials": false } }, id);
            assert.ok([staging.jobs[id].needs].flat().includes("deploy"), id);
        }
        // The deploy's output commit is its checkout's (tests/workflows.spec.ts checks the source too).
        assert.equal(staging.jobs.deploy.outputs.commit, "${{ steps.manifest.outputs.commit }}");
        assert.equal((staging.jobs.deploy.steps as Doc[])[0].with.ref, "main");
    });

    it("smoke-and-load: the tool's report goes to the log and, in a code block, to the job summary; its exit code is the step's; no --out file", () => {
        const step = (staging.jobs["smoke-and-load"].steps as Doc[]).find((s) => s.name === "Smoke and load checks against staging")!;
        assert.doesNotMatch(step.run, /--out/, "nothing uploads a report file");
        assert.doesNotMatch(JSON.stringify(staging.jobs["smoke-and-load"]), /upload-artifact/);
        const report = "smoke: 12/12 passed\nload: p95 180 ms (limit 800 ms)";
        for (const [code, state] of [[0, "pass"], [1, "fail"], [2, "bad usage"]] as const) {
            // The job's default shell: bash -e (no pipefail of its own).
            const dir = tempDir();
            const bin = path.join(dir, "bin");
            fs.mkdirSync(bin);
            fs.writeFileSync(path.join(bin, "npm"), `#!/bin/bash\nprintf '%s\\n' "$*" > ${dir}/argv\nprintf '${report.replace(/\n/g, "\\n")} (${state})\\n'\nexit ${code}\n`, { mode: 0o755 });
            fs.writeFileSync(path.join(dir, "summary"), "");
            const run = spawnSync("bash", ["-e", "-c", step.run], { cwd: dir, encoding: "utf8", env: { PATH: `${bin}:${process.env.PATH}`, GITHUB_STEP_SUMMARY: path.join(dir, "summary") } });
            assert.equal(run.status, code, run.stderr);
            assert.equal(fs.readFileSync(path.join(dir, "argv"), "utf8"), "run -s verify -- --stack staging\n");
            assert.equal(run.stdout, `${report} (${state})\n`, "the report stays in the log");
            assert.equal(fs.readFileSync(path.join(dir, "summary"), "utf8"), `## Smoke and load checks (exit ${code})\n\`\`\`text\n${report} (${state})\n\`\`\`\n`);
        }
        // The check can fail: without pipefail, tee's success hides the tool's failure.
        const dir = tempDir();
        fs.writeFileSync(path.join(dir, "npm"), "#!/bin/bash\necho 'smoke: failed'\nexit 1\n", { mode: 0o755 });
        fs.writeFileSync(path.join(dir, "summary"), "");
        const hidden = spawnSync("bash", ["-e", "-c", step.run.replace("set -uo pipefail", "set -u")], { cwd: dir, encoding: "utf8", env: { PATH: `${dir}:${process.env.PATH}`, GITHUB_STEP_SUMMARY: path.join(dir, "summary") } });
        assert.equal(hidden.status, 0, "without pipefail the failure would pass");
    });

    it("playwright: an installation token of the verifier App narrowed to the monorepo and to Actions write, against staging's frontend hostname", () => {
        const steps = staging.jobs.playwright.steps as Doc[];
        assert.equal(staging.jobs.playwright.environment, "staging-verification");
        assert.deepEqual(steps.map((s) => s.id ?? s.uses ?? s.name), [
            "actions/checkout@v4.2.2", "./.github/actions/setup", "repositories", "token", "The services monorepo's Playwright suite against staging",
        ]);
        assert.deepEqual(steps.find((s) => s.id === "token"), { id: "token", uses: "actions/create-github-app-token@v3.1.1", with: {
            "client-id": "${{ vars.STAGING_VERIFIER_CLIENT_ID }}", "private-key": "${{ secrets.STAGING_VERIFIER_PRIVATE_KEY }}",
            owner: "${{ steps.repositories.outputs.owner }}", repositories: "${{ steps.repositories.outputs.services }}",
            "permission-actions": "write",
        } });
        const e2e = steps.at(-1)!;
        assert.deepEqual(e2e.env, {
            GH_TOKEN: "${{ steps.token.outputs.token }}", REPOSITORY: "${{ vars.SERVICES_REPOSITORY || 'pakashop/pakashop' }}", REVISION: "${{ needs.deploy.outputs.revision }}",
        });
        const run = runStep(e2e.run, { GH_TOKEN: "app-token", REPOSITORY: MONOREPO, REVISION });
        assert.equal(run.status, 0, run.stderr);
        assert.deepEqual(run.npm, [{ token: "app-token", args: ["run", "-s", "monorepo-e2e", "--", "--repository", MONOREPO, "--workflow", "e2e.yml", "--ref", "main",
            "--revision", REVISION, "--base-url", STAGING_URL] }]);
        // The base URL is staging's frontend, as the stack file names it.
        const config = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.staging.yaml"), "utf8")).config as Record<string, unknown>;
        assert.equal(STAGING_URL, `https://${config["pakashop-infra:frontendHostname"]}`);
        // The check can fail: another host in the workflow.
        const elsewhere = e2e.run.replace("https://staging.pakashop.store", "https://pakashop.store");
        assert.notEqual(runStep(elsewhere, { GH_TOKEN: "t", REPOSITORY: MONOREPO, REVISION }).npm[0].args.at(-1), `https://${config["pakashop-infra:frontendHostname"]}`);
    });

    it("app-repositories: splits SERVICES_REPOSITORY into owner and name for the token, refuses anything else, and a monorepo of another owner", () => {
        const action = loadAction("app-repositories");
        assert.deepEqual(Object.keys(action.inputs), ["services-repository"]);
        const script = (action.runs.steps as Doc[])[0].run;
        const split = (repository: string, owner = "pakashop") => runStep(script, { SERVICES_REPOSITORY: repository, GITHUB_REPOSITORY_OWNER: owner });
        const ok = split(MONOREPO);
        assert.equal(ok.status, 0, ok.stdout + ok.stderr);
        assert.equal(ok.output, "owner=pakashop\nservices=pakashop\nthis=pakashop-infra\n");
        assert.equal(split("PakaShop/shop.web_2", "pakashop").output, "owner=PakaShop\nservices=shop.web_2\nthis=pakashop-infra\n", "owners compare ignoring case");
        for (const bad of ["pakashop", "pakashop/pakashop,pakashop-secrets", "pakashop/pakashop\npakashop-secrets", "pakashop/a/b", "/pakashop", "pakashop/", "-x/y", "pakashop/..", "pakashop/a b", ""]) {
            const refused = split(bad);
            assert.equal(refused.status, 1, JSON.stringify(bad));
            assert.equal(refused.output, "", JSON.stringify(bad));
            assert.match(refused.stdout, /^::error::SERVICES_REPOSITORY (must be one <owner>\/<name>|names no repository)/, JSON.stringify(bad));
        }
        const foreign = split("someone-else/pakashop");
        assert.equal(foreign.status, 1);
        assert.match(foreign.stdout, /^::error::the services monorepo someone-else\/pakashop belongs to someone-else, not to pakashop: one GitHub App installation token covers one owner's repositories/);
    });

    for (const c of STAGING_CASES) {
        it(c.name, () => {
            const runs = simulateRun(staging, c.setup);
            assert.deepEqual(ran(runs), c.ran);
            assert.ok(runs.verdict.ran);
            const verdict = runVerdict(runs.verdict.needs, c.setup.event);
            assert.equal(verdict.status, 0, verdict.stderr);
            assert.deepEqual(verdict.gh, c.calls);
            if (c.summary) assert.match(verdict.summary, c.summary);
            const state = c.calls[0]?.args[3];
            if (state) assert.match(verdict.summary, new RegExp(`^## staging-verification: ${state.slice("state=".length)} `, "m"));
        });
    }

    it("a cancelled run posts nothing: the required status stays missing, never success", () => {
        const runs = simulateRun(staging, { event: "push", cancelled: true });
        assert.deepEqual(ran(runs), []);
        assert.equal(runs.verdict.result, "skipped");
    });

    it("a verification job that was skipped or did not succeed is a failure, whatever else passed", () => {
        const ok = { result: "success" as const, outputs: {} };
        const deploy = { result: "success" as const, outputs: DEPLOY_OUT };
        const cases: [string, JobRun["needs"], string, GhCall[]][] = [
            ["playwright skipped", { deploy, record: { result: "skipped", outputs: {} }, "smoke-and-load": ok, playwright: { result: "skipped", outputs: {} } }, "push",
                [onInfra(DEPLOYED, "failure", "failed: playwright skipped"), onMonorepo("failure", "failed: playwright skipped")]],
            ["a dispatch whose record was skipped", { deploy, record: { result: "skipped", outputs: {} }, "smoke-and-load": ok, playwright: ok }, "workflow_dispatch",
                [onMonorepo("failure", "failed: record skipped")]],
            ["a needs context without playwright", { deploy, record: { result: "skipped", outputs: {} }, "smoke-and-load": ok }, "push",
                [onInfra(DEPLOYED, "failure", "failed: playwright missing"), onMonorepo("failure", "failed: playwright missing")]],
        ];
        for (const [what, needs, event, calls] of cases) {
            const verdict = runVerdict(needs, event);
            assert.equal(verdict.status, 0, `${what}: ${verdict.stderr}`);
            assert.deepEqual(verdict.gh, calls, what);
        }
    });

    it("fails the step when GitHub refuses the status (the token lacks commit statuses write)", () => {
        const runs = simulateRun(staging, { event: "push", outcomes: { deploy: { result: "success", outputs: DEPLOY_OUT } } });
        const script = verdictStep().run.replace(/^set -euo pipefail\n/, 'set -euo pipefail\ngh() { echo "HTTP 403: Resource not accessible by integration" >&2; return 1; }\n');
        const refused = runStep(script, { NEEDS: JSON.stringify(runs.verdict.needs), EVENT: "push", SERVICES_REPOSITORY: MONOREPO, TOKEN: "t", RUN_URL });
        assert.notEqual(refused.status, 0);
        assert.match(refused.stderr, /HTTP 403/);
        // Refused on this repository only: the monorepo's status is still posted, then the step fails.
        const onlyInfra = verdictStep().run.replace(/^set -euo pipefail\n/, `set -euo pipefail\ngh() { if [[ $2 == repos/${INFRA}/* ]]; then echo "HTTP 403" >&2; return 1; fi; echo "posted $2" >&2; }\n`);
        const partly = runStep(onlyInfra, { NEEDS: JSON.stringify(runs.verdict.needs), EVENT: "push", SERVICES_REPOSITORY: MONOREPO, TOKEN: "t", RUN_URL });
        assert.equal(partly.status, 1);
        assert.match(partly.stderr, new RegExp(`posted repos/${MONOREPO}/statuses/${REVISION}`));
        assert.match(partly.summary, new RegExp(`could not post success on ${INFRA}@${DEPLOYED}`));
        assert.match(partly.summary, new RegExp(`posted success on ${MONOREPO}@${REVISION}`));
    });
});

// ---------------------------------------------------------------------------------------------
// Deploy production: the gate before the backup
// ---------------------------------------------------------------------------------------------

describe("Deploy production: the staging gate before backup and deploy", () => {
    const production = load("deploy-production.yml");
    const dispatch = (inputs: Record<string, string>, outcomes: RunSetup["outcomes"] = {}): RunSetup => ({ event: "workflow_dispatch", inputs, outcomes });
    /** The release recorder App's login (vars.RELEASE_RECORDER_LOGIN), and a push it made. */
    const RECORDER = "pakashop-release-recorder[bot]";
    const RECORDER_VARS = { RELEASE_RECORDER_LOGIN: RECORDER };
    const recorderPush: RunSetup = { event: "push", actor: RECORDER, vars: RECORDER_VARS };

    const CASES: [string, RunSetup, Record<string, string>][] = [
        ["a push whose gate passed: backup and deploy run (nothing to record)", { event: "push" },
            { gate: "success", "gate-bypass": "skipped", backup: "success", deploy: "success", record: "skipped" }],
        ["a push whose gate failed: backup and deploy are skipped", { event: "push", outcomes: { gate: { result: "failure" } } },
            { gate: "failure", "gate-bypass": "skipped", backup: "skipped", deploy: "skipped", record: "skipped" }],
        ["a dispatch whose gate passed: backup, deploy and record run", dispatch({ revision: REVISION }),
            { gate: "success", "gate-bypass": "skipped", backup: "success", deploy: "success", record: "success" }],
        ["a dispatch whose gate failed: nothing after it runs", dispatch({ revision: REVISION }, { gate: { result: "failure" } }),
            { gate: "failure", "gate-bypass": "skipped", backup: "skipped", deploy: "skipped", record: "skipped" }],
        ["a dispatch with a bypass_reason: the gate is skipped, the approved bypass lets backup and deploy run", dispatch({ bypass_reason: "checkout down, fix verified by hand" }),
            { gate: "skipped", "gate-bypass": "success", backup: "success", deploy: "success", record: "success" }],
        ["a dispatch whose bypass was rejected (the job fails): nothing after it runs", dispatch({ bypass_reason: "because" }, { "gate-bypass": { result: "failure" } }),
            { gate: "skipped", "gate-bypass": "failure", backup: "skipped", deploy: "skipped", record: "skipped" }],
        ["a failed backup: no deploy", dispatch({}, { backup: { result: "failure" } }),
            { gate: "success", "gate-bypass": "skipped", backup: "failure", deploy: "skipped", record: "skipped" }],
        ["a cancelled run: nothing runs", { event: "push", cancelled: true },
            { gate: "skipped", "gate-bypass": "skipped", backup: "skipped", deploy: "skipped", record: "skipped" }],
        ["the release recorder's own push (the record of a dispatched deploy, pushed with its App token): nothing runs", recorderPush,
            { gate: "skipped", "gate-bypass": "skipped", backup: "skipped", deploy: "skipped", record: "skipped" }],
        ["a push by anyone else while the recorder's login is set: the gate runs", { event: "push", actor: "octocat", vars: RECORDER_VARS },
            { gate: "success", "gate-bypass": "skipped", backup: "success", deploy: "success", record: "skipped" }],
        ["a push by the recorder's login while the variable is unset: the gate runs (never skipped on a guess)", { event: "push", actor: RECORDER },
            { gate: "success", "gate-bypass": "skipped", backup: "success", deploy: "success", record: "skipped" }],
        ["a dispatch started with the recorder's login (it only pushes): gated as any other", { ...dispatch({ revision: REVISION }), actor: RECORDER, vars: RECORDER_VARS },
            { gate: "success", "gate-bypass": "skipped", backup: "success", deploy: "success", record: "success" }],
    ];
    for (const [name, setup, expected] of CASES) {
        it(name, () => assert.deepEqual(results(simulateRun(production, setup)), expected));
    }

    it("the recorder's pushes get a concurrency group of their own (a pending deploy is never cancelled by one); every other run queues in deploy-production", () => {
        const group = (setup: RunSetup) => evaluateExpression(production.concurrency.group, {
            event: setup.event, actor: setup.actor, vars: setup.vars, inputs: setup.event === "workflow_dispatch" ? { revision: "", service: "", bypass_reason: "", ...setup.inputs } : null,
            needs: {}, status: { success: true, failure: false, cancelled: false },
        });
        assert.equal(group(recorderPush), `deploy-production-record-${SIMULATED_RUN_ID}`);
        for (const setup of [{ event: "push" }, { event: "push", actor: "octocat", vars: RECORDER_VARS }, { event: "push", actor: RECORDER },
            { ...dispatch({}), actor: RECORDER, vars: RECORDER_VARS }, dispatch({ bypass_reason: "outage" })]) {
            assert.equal(group(setup), "deploy-production", JSON.stringify(setup));
        }
        assert.equal(production.concurrency["cancel-in-progress"], false);
        // The checks can fail: a gate without the actor condition runs (and deploys) for the recorder's push.
        const always = structuredClone(production);
        always.jobs.gate.if = "${{ github.event_name == 'push' || inputs.bypass_reason == '' }}";
        assert.equal(simulateRun(always, recorderPush).deploy.result, "success");
    });

    it("a gate that is skipped lets nothing through (and the checks can fail: a weaker if would)", () => {
        const skippedGate = structuredClone(production);
        skippedGate.jobs.gate.if = "${{ false }}";
        for (const setup of [{ event: "push" }, dispatch({})]) {
            assert.deepEqual(results(simulateRun(skippedGate, setup)), { gate: "skipped", "gate-bypass": "skipped", backup: "skipped", deploy: "skipped", record: "skipped" });
        }
        // "Not failed" is not "succeeded": a skipped gate would let this backup run.
        const weaker = structuredClone(skippedGate);
        weaker.jobs.backup.if = "${{ !cancelled() && needs.gate.result != 'failure' && needs['gate-bypass'].result != 'failure' }}";
        assert.equal(simulateRun(weaker, { event: "push" }).backup.result, "success");
        // And without explicit ifs, deploy would never run: one of gate and gate-bypass is always skipped.
        const defaults = structuredClone(production);
        delete defaults.jobs.deploy.if;
        assert.equal(simulateRun(defaults, { event: "push" }).deploy.result, "skipped");
        assert.deepEqual(production.jobs.backup.needs, ["gate", "gate-bypass"]);
        assert.equal(production.jobs.backup.if, "${{ !cancelled() && (needs.gate.result == 'success' || needs['gate-bypass'].result == 'success') }}");
        assert.deepEqual(production.jobs.deploy.needs, ["gate", "backup"]);
        assert.equal(production.jobs.deploy.if, "${{ !cancelled() && needs.backup.result == 'success' }}");
    });

    it("bypasses only a dispatch with a bypass_reason, only through the environment with required reviewers, and posts no status", () => {
        assert.deepEqual(production.on.workflow_dispatch.inputs.bypass_reason.required, false);
        for (const setup of [{ event: "push" }, dispatch({}), dispatch({ bypass_reason: "" }), dispatch({ revision: REVISION })]) {
            const runs = simulateRun(production, setup);
            assert.equal(runs["gate-bypass"].result, "skipped");
            assert.equal(runs.gate.result, "success");
        }
        const bypass = production.jobs["gate-bypass"];
        assert.equal(bypass.environment, "production-gate-bypass");
        assert.deepEqual(bypass.permissions, {}, "no token to post a status with");
        for (const file of workflowFiles) {
            for (const [id, job] of Object.entries(load(file).jobs as Doc)) {
                if (file === "deploy-production.yml" && id === "gate-bypass") continue;
                assert.notEqual(job.environment, "production-gate-bypass", `${file} ${id}`);
            }
        }
        // The step records the bypass in the summary and calls nothing.
        const run = runStep((bypass.steps as Doc[])[0].run, { REASON: "checkout down", REVISION: "", SERVICE: "", ACTOR: "lead", RUN_URL });
        assert.equal(run.status, 0, run.stderr);
        assert.deepEqual([...run.gh, ...run.npm], []);
        assert.equal(run.summary, [
            "## Staging verification bypassed", "- reason: checkout down",
            `- started by: lead, approved in this run's production-gate-bypass review: ${RUN_URL}`,
            "- services revision: the head of production", "- no staging-verification status is posted: the revision stays unverified", "",
        ].join("\n"));
        assert.match(run.stdout, /^::warning::staging verification bypassed by lead: checkout down$/m);
        // A reason with line breaks (possible through the API) stays on the one line.
        const injected = runStep((bypass.steps as Doc[])[0].run, { REASON: "x\n::add-mask::y\r\n::error::z", REVISION, SERVICE: "search", ACTOR: "lead", RUN_URL });
        assert.equal(injected.stdout, "::warning::staging verification bypassed by lead: x ::add-mask::y  ::error::z\n");
        assert.match(injected.summary, new RegExp(`^- services revision: ${REVISION} \\(service search only\\)$`, "m"));
        // A reason of spaces and line breaks only is no reason: the bypass fails, so backup and deploy don't run.
        const blank = runStep((bypass.steps as Doc[])[0].run, { REASON: "  \n\t ", REVISION, SERVICE: "", ACTOR: "lead", RUN_URL });
        assert.equal(blank.status, 1);
        assert.equal(blank.stdout, "::error::bypass_reason is blank: give the incident and why it can't wait for staging\n");
        assert.equal(blank.summary, "");
    });

    it("gate: checks the revision to deploy, on a push every pinned revision and this repository's checked-out commit, with exactly the staging-gate flags", () => {
        const gate = production.jobs.gate;
        assert.equal(gate.if, "${{ (github.event_name == 'push' && github.actor != vars.RELEASE_RECORDER_LOGIN) || (github.event_name != 'push' && inputs.bypass_reason == '') }}");
        assert.equal(gate["runs-on"], "ubuntu-latest");
        assert.deepEqual(gate.permissions, { contents: "read", statuses: "read", actions: "read" });
        const steps = gate.steps as Doc[];
        const services = steps.find((s) => s.name === "The services revisions passed staging's verification")!;
        const own = steps.find((s) => s.name === "This repository's commit passed staging's verification")!;
        assert.equal(services.if, undefined);
        assert.equal(services.env.PINS, "${{ steps.manifest.outputs.pins }}");
        assert.equal(own.if, undefined, "this repository's commit on every trigger: a dispatch deploys production's program too");
        assert.equal(services.env.REVISION, "${{ steps.revision.outputs.revision }}", "a dispatch's revision (a push's are in PINS)");
        assert.equal(gate.outputs.revision, "${{ steps.revision.outputs.revision || steps.manifest.outputs.revision }}", "the deploy deploys what the gate verified");
        assert.equal((production.jobs.deploy.steps as Doc[]).find((s) => s.uses === "./.github/actions/revision")!.with.requested, "${{ needs.gate.outputs.revision || inputs.revision }}");
        const gateFlags = ["--verifier-repository", INFRA, "--verifier-workflow", "deploy-staging.yml", "--verifier-branch", "main"];
        const LOGIN = "pakashop-verifier[bot]";
        const call = (commit: string) => ({ token: "services-read-token", args: ["run", "-s", "staging-gate", "--", "--repository", MONOREPO, "--commit", commit, ...gateFlags, "--verifier-login", LOGIN] });
        const env = { GH_TOKEN: "services-read-token", VERIFIER_TOKEN: "job-token", SERVICES_REPOSITORY: MONOREPO, REVISION, VERIFIER_LOGIN: LOGIN };
        const first = runStep(services.run, { ...env, PINS: "" });
        assert.equal(first.status, 0, first.stderr);
        assert.deepEqual(first.npm, [call(REVISION)], "a dispatch (no pins output): the one revision");
        // A push that brings no revision (an infrastructure promotion): nothing to check.
        const none = runStep(services.run, { ...env, REVISION: "", PINS: "" });
        assert.equal(none.status, 0, none.stderr);
        assert.deepEqual(none.npm, []);
        assert.equal(none.stdout, "no services revision to check: the push brings none\n");
        // A push: every distinct pinned revision too.
        const PIN_A = "a".repeat(40);
        const PIN_B = "b".repeat(40);
        const pinned = runStep(services.run, { ...env, PINS: `${PIN_A} ${PIN_B}` });
        assert.equal(pinned.status, 0, pinned.stderr);
        assert.deepEqual(pinned.npm, [call(REVISION), call(PIN_A), call(PIN_B)]);
        // One unverified pin fails the step, after every revision was checked (each refusal in the log).
        const refusedPin = runStep(services.run, { ...env, PINS: `${PIN_A} ${PIN_B}` }, { npmBody: `[[ " $* " == *" ${PIN_A} "* ]] && exit 1; exit 0` });
        assert.equal(refusedPin.status, 1);
        assert.deepEqual(refusedPin.npm, [call(REVISION), call(PIN_A), call(PIN_B)]);
        const second = runStep(own.run, { GH_TOKEN: "job-token", VERIFIER_TOKEN: "job-token", COMMIT: DEPLOYED, VERIFIER_LOGIN: LOGIN });
        assert.equal(second.status, 0, second.stderr);
        assert.deepEqual(second.npm, [{ token: "job-token", args: ["run", "-s", "staging-gate", "--", "--repository", INFRA, "--commit", DEPLOYED, ...gateFlags,
            "--verifier-login", LOGIN, "--allowed-difference", "Pulumi.production.yaml"] }]);
        // The commit it checked out (and that backup and deploy check out), not github.sha, which
        // is older once production moved.
        assert.equal(own.env.COMMIT, "${{ steps.checkout.outputs.commit }}");
        assert.equal(gate.outputs.commit, "${{ steps.checkout.outputs.commit }}");
        assert.deepEqual(steps[0], { uses: "actions/checkout@v4.2.2", with: { ref: "production", "fetch-depth": 0, "persist-credentials": false } });
        const checkout = steps.find((s) => s.id === "checkout")!;
        assert.equal(checkout.if, undefined, "for every trigger");
        assert.equal(steps.indexOf(checkout), 1);
        for (const id of ["backup", "deploy"]) assert.equal((production.jobs[id].steps as Doc[])[0].with.ref, "${{ needs.gate.outputs.commit || 'production' }}");
        // Every step checks the verifier App's login: a status by github-actions[bot] could come from any workflow of this repository.
        assert.equal(services.env.VERIFIER_LOGIN, "${{ vars.STAGING_VERIFIER_LOGIN }}");
        assert.equal(own.env.VERIFIER_LOGIN, "${{ vars.STAGING_VERIFIER_LOGIN }}");
        assert.doesNotMatch(`${services.run}\n${own.run}`, /github-actions/);
        // A refusal of the tool fails the step (and so the gate).
        const refused = runStep(services.run, { ...env, PINS: "" }, { npmBody: "exit 1" });
        assert.equal(refused.status, 1);
    });

    it("gate: reports the commit it checked out, and on a push the manifest's revision and its distinct pinned revisions", () => {
        const steps = production.jobs.gate.steps as Doc[];
        const dir = tempDir();
        spawnSync("git", ["init", "-q", dir]);
        spawnSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x"]);
        const head = spawnSync("git", ["-C", dir, "rev-parse", "HEAD"], { encoding: "utf8" }).stdout.trim();
        const checkout = runStep(`cd ${dir}\n${steps.find((s) => s.id === "checkout")!.run}`, {});
        assert.equal(checkout.status, 0, checkout.stderr);
        assert.equal(checkout.output, `commit=${head}\n`);
        const manifest = steps.find((s) => s.id === "manifest")!;
        assert.equal(manifest.if, "github.event_name == 'push'");
        assert.equal(manifest.env.BEFORE, "${{ github.event.before }}");
        // A production branch whose manifest moves from R1 (commit A) to R2 with search pinned to
        // R1 and worker to R3 (commit B); the release tool is the real one.
        const [R1, R2, R3] = ["1".repeat(40), "2".repeat(40), "3".repeat(40)];
        const repo = tempDir();
        const git = (...args: string[]) => spawnSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { encoding: "utf8" }).stdout.trim();
        git("init", "-q");
        fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(repo, "Pulumi.yaml"));
        fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.production.yaml"), path.join(repo, "Pulumi.production.yaml"));
        const release = (...args: string[]) => {
            const r = spawnSync(process.execPath, ["--require", path.join(REPO_ROOT, "tools/register.js"), path.join(REPO_ROOT, "tools/release.ts"), "--project-dir", repo, "--stack", "production", ...args], { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
        };
        release("--revision", R1);
        git("add", ".");
        git("commit", "-q", "-m", "A");
        const A = git("rev-parse", "HEAD");
        release("--revision", R2);
        release("--service", "search", "--revision", R1);
        release("--service", "notifications", "--revision", R3);
        git("commit", "-qam", "B");
        // The fake npm runs the real tool, in the checkout unless the step names another copy.
        const npmBody = `shift 4; [[ " $* " == *" --project-dir "* ]] || set -- "$@" --project-dir "${repo}"; exec "${process.execPath}" --require "${path.join(REPO_ROOT, "tools/register.js")}" "${path.join(REPO_ROOT, "tools/release.ts")}" "$@"`;
        const manifestAt = (before: string) => runStep(`cd ${repo}\n${manifest.run}`, { BEFORE: before }, { npmBody });
        const brought = manifestAt(A);
        assert.equal(brought.status, 0, brought.stderr);
        assert.equal(brought.output, `revision=${R2}\npins=${R2} ${R3}\n`, "R1 was in the manifest before the push: only R2 and R3 are new");
        const fresh = manifestAt("0".repeat(40));
        assert.equal(fresh.status, 0, fresh.stderr);
        assert.equal(fresh.output, `revision=${R2}\npins=${R1} ${R2} ${R3}\n`, "no before (a new branch): every revision");
        assert.match(fresh.stdout, /::notice::no manifest before this push/);
        const unknown = manifestAt("f".repeat(40));
        assert.equal(unknown.output, `revision=${R2}\npins=${R1} ${R2} ${R3}\n`, "a before the history lacks (a force-push): every revision");
        const same = manifestAt(git("rev-parse", "HEAD"));
        assert.equal(same.output, `revision=${R2}\npins=\n`, "a push that changes no revision brings none");
    });
});

describe("The staging-verification status is never a job's check", () => {
    it("no job id or job name in any workflow equals the status context", () => {
        assert.ok(workflowFiles.length >= 7);
        const names = workflowFiles.flatMap((file) => Object.entries(load(file).jobs as Doc).flatMap(([id, job]) => [id, job.name].filter((n) => typeof n === "string").map((n) => `${file} ${n}`)));
        assert.ok(names.includes("deploy-staging.yml verdict"));
        assert.deepEqual(names.filter((n) => n.split(" ")[1].toLowerCase() === STAGING_VERIFICATION_CONTEXT), []);
        // The check can fail.
        const renamed = structuredClone(load("deploy-staging.yml"));
        renamed.jobs.verdict.name = STAGING_VERIFICATION_CONTEXT;
        assert.ok(Object.values(renamed.jobs as Doc).some((job) => job.name === STAGING_VERIFICATION_CONTEXT));
    });

    it("the required check is a commit status only the verdict step posts, after evaluating the results (a skipped job posts nothing)", () => {
        // Every status creation in the workflows and actions: the verdict action's one gh api call.
        const sources = [
            ...workflowFiles.map((f) => [`workflow ${f}`, fs.readFileSync(path.join(WORKFLOWS, f), "utf8")]),
            ...fs.readdirSync(ACTIONS).map((d) => [`action ${d}`, fs.readFileSync(path.join(ACTIONS, d, "action.yml"), "utf8")]),
        ];
        const code = (text: string) => text.split("\n").filter((line) => !/^\s*#/.test(line)).join("\n"); // comments cite the endpoint
        const posting = sources.filter(([, text]) => /statuses\/|createCommitStatus|context=/.test(code(text))).map(([where]) => where);
        assert.deepEqual(posting, ["action staging-verdict"]);
        assert.equal((verdictStep().run.match(/gh api "repos\/\$1\/statuses\/\$2"/g) ?? []).length, 1);
        assert.match(verdictStep().run, /GH_TOKEN=\$TOKEN gh api "repos\/\$1\/statuses\/\$2"/, "always with the one token the action is given");
        assert.match(verdictStep().run, new RegExp(`-f context=${STAGING_VERIFICATION_CONTEXT} `));
        // Used only by the verdict job, which runs unless the run is cancelled, and fed the verifier App's token.
        const users = workflowFiles.flatMap((file) => Object.entries(load(file).jobs as Doc)
            .filter(([, job]) => (job.steps as Doc[] ?? []).some((s) => s.uses === "./.github/actions/staging-verdict")).map(([id]) => `${file} ${id}`));
        assert.deepEqual(users, ["deploy-staging.yml verdict"]);
    });

    /**
     * Who can create a staging-verification status the gate and the rulesets accept: only the
     * staging verifier GitHub App (creator vars.STAGING_VERIFIER_LOGIN, <app-slug>[bot]; the
     * rulesets' integration_id), whose private key STAGING_VERIFIER_PRIVATE_KEY only the
     * staging-verification environment (main only) holds. Returns the problems: a job outside
     * that environment that references the key, and any job whose GITHUB_TOKEN may write statuses
     * (creator github-actions[bot], as any workflow of this repository can be).
     */
    function statusWriterProblems(docs: [string, Doc][]): string[] {
        const problems: string[] = [];
        for (const [file, doc] of docs) {
            for (const [id, job] of Object.entries(doc.jobs as Doc)) {
                const holdsToken = JSON.stringify(job).includes("secrets.STAGING_VERIFIER_PRIVATE_KEY");
                if (holdsToken && job.environment !== "staging-verification") problems.push(`${file} ${id}: STAGING_VERIFIER_PRIVATE_KEY outside environment staging-verification`);
                if (job.permissions?.statuses === "write" || job.permissions === "write-all") problems.push(`${file} ${id}: its GITHUB_TOKEN may write statuses`);
                if (job.permissions === undefined && doc.permissions === undefined) problems.push(`${file} ${id}: takes the repository's default GITHUB_TOKEN permissions (statuses write, if permissive)`);
                if (job.permissions === undefined && doc.permissions !== undefined && (doc.permissions === "write-all" || doc.permissions.statuses === "write")) {
                    problems.push(`${file} ${id}: inherits statuses write`);
                }
            }
            if (doc.permissions === "write-all" || doc.permissions?.statuses === "write") problems.push(`${file}: grants statuses write to every job`);
        }
        return problems;
    }

    it("only jobs in the staging-verification environment get the verifier App's key, only the verdict mints a statuses token, and no job's GITHUB_TOKEN may write statuses", () => {
        const docs = workflowFiles.map((f): [string, Doc] => [f, load(f)]);
        assert.deepEqual(statusWriterProblems(docs), []);
        const holders = docs.flatMap(([file, doc]) => Object.entries(doc.jobs as Doc)
            .filter(([, job]) => JSON.stringify(job).includes("secrets.STAGING_VERIFIER_PRIVATE_KEY")).map(([id]) => `${file} ${id}`));
        assert.deepEqual(holders, ["deploy-staging.yml playwright", "deploy-staging.yml verdict"]);
        // Of the App tokens, only the verdict's may write statuses.
        const statusTokens = docs.flatMap(([file, doc]) => Object.entries(doc.jobs as Doc).filter(([, job]) => ((job.steps ?? []) as Doc[])
            .some((s) => /^actions\/create-github-app-token@/.test(s.uses ?? "") && s.with?.["permission-statuses"] !== undefined)).map(([id]) => `${file} ${id}`));
        assert.deepEqual(statusTokens, ["deploy-staging.yml verdict"]);
        // The personal token is gone everywhere.
        for (const file of workflowFiles) assert.doesNotMatch(fs.readFileSync(path.join(WORKFLOWS, file), "utf8"), /SERVICES_VERIFICATION_TOKEN/, file);
        for (const dir of fs.readdirSync(ACTIONS)) assert.doesNotMatch(fs.readFileSync(path.join(ACTIONS, dir, "action.yml"), "utf8"), /SERVICES_VERIFICATION_TOKEN/, dir);
        // No job holds statuses: write at all (the gate reads them: statuses: read).
        const writers = docs.flatMap(([file, doc]) => Object.entries(doc.jobs as Doc).filter(([, job]) => job.permissions?.statuses === "write").map(([id]) => `${file} ${id}`));
        assert.deepEqual(writers, []);
        // The checks can fail: the old verdict (statuses: write with github.token), the token in a
        // job outside the environment (a pull-request job, say), and a workflow-wide grant.
        const staging = structuredClone(load("deploy-staging.yml"));
        staging.jobs.verdict.permissions = { contents: "read", statuses: "write" };
        const ci = structuredClone(load("ci.yml"));
        ci.jobs.test.steps.push({ uses: "actions/create-github-app-token@v3.1.1", with: { "client-id": "${{ vars.STAGING_VERIFIER_CLIENT_ID }}", "private-key": "${{ secrets.STAGING_VERIFIER_PRIVATE_KEY }}" } });
        const wide = { permissions: { statuses: "write" }, jobs: { post: { "runs-on": "ubuntu-latest", steps: [] } } };
        const unset = { jobs: { post: { "runs-on": "ubuntu-latest", steps: [] } } };
        assert.deepEqual(statusWriterProblems([["deploy-staging.yml", staging], ["ci.yml", ci], ["forged.yml", wide], ["default.yml", unset]]), [
            "deploy-staging.yml verdict: its GITHUB_TOKEN may write statuses",
            "ci.yml test: STAGING_VERIFIER_PRIVATE_KEY outside environment staging-verification",
            "forged.yml post: inherits statuses write",
            "forged.yml: grants statuses write to every job",
            "default.yml post: takes the repository's default GITHUB_TOKEN permissions (statuses write, if permissive)",
        ]);
    });
});
