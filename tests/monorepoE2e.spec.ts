/**
 * `npm run monorepo-e2e` (tools/monorepoE2e.ts) against a stand-in GitHub
 * (tests/support/githubStandin.ts): it dispatches the monorepo's e2e workflow with the inputs the
 * workflow declares, finds that very run (by the id GitHub returns, else by the correlation id in
 * its run-name, never a neighbour's run), passes only on `success`, fails on every other
 * conclusion, on a run that never appears and on one that does not finish in time, and never
 * prints its token. Polling is fast here: `--poll-seconds` takes fractions.
 */
import { strict as assert } from "assert";
import { judgeRun } from "../tools/monorepoE2e";
import { GitHubStandin, WorkflowBehaviour } from "./support/githubStandin";
import { runToolProcess, ToolRun } from "./support/toolProcess";

const REPO = "pakashop/pakashop";
const REVISION = "0123456789abcdef0123456789abcdef01234567";
const BASE_URL = "https://staging.pakashop.store";
/** Distinctive, so any output that holds it is caught. */
const TOKEN = "github_pat_E2eDistinctiveSecret_9f8e7d6c5b4a";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FIX_ERROR = "(the run's logs say what failed)";

describe("monorepo e2e dispatch (npm run monorepo-e2e)", function () {
    this.timeout(60_000);
    let standin: GitHubStandin;
    const outputs: ToolRun[] = [];

    beforeEach(async () => {
        standin = await new GitHubStandin().start();
        standin.allow(REPO, TOKEN);
    });
    afterEach(() => standin.stop());

    const workflow = (behaviour: Partial<WorkflowBehaviour>) => standin.workflows.set(`${REPO}/e2e.yml`, {
        returnRunDetails: true, startsRun: true, statuses: ["queued", "in_progress", "completed"], conclusion: "success", ...behaviour,
    });
    const args = (...extra: string[]) => [
        "--repository", REPO, "--workflow", "e2e.yml", "--ref", "main", "--revision", REVISION, "--base-url", BASE_URL,
        "--poll-seconds", "0.05", "--timeout-minutes", "0.05", ...extra,
    ];
    async function e2e(argv: string[], env: Record<string, string | undefined> = {}): Promise<ToolRun> {
        const result = await runToolProcess("tools/monorepoE2e.ts", argv, { GH_TOKEN: TOKEN, GITHUB_API_URL: standin.url, ...env });
        outputs.push(result);
        return result;
    }
    const dispatches = () => standin.requests.filter((r) => r.method === "POST");

    it("passes when the run it dispatched concludes success, with the run id GitHub returns", async () => {
        workflow({});
        const result = await e2e(args());
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "run: https://github.com/pakashop/pakashop/actions/runs/9000\nconclusion: success\n");
        const [post] = dispatches();
        assert.equal(dispatches().length, 1);
        assert.equal(post.path, "/repos/pakashop/pakashop/actions/workflows/e2e.yml/dispatches");
        assert.equal(post.token, TOKEN);
        const body = post.body as { ref: string; inputs: Record<string, string>; return_run_details: boolean };
        assert.deepEqual(Object.keys(body.inputs).sort(), ["base_url", "correlation_id", "revision"]);
        assert.equal(body.ref, "main");
        assert.equal(body.inputs.revision, REVISION);
        assert.equal(body.inputs.base_url, BASE_URL);
        assert.match(body.inputs.correlation_id, UUID);
        assert.equal(body.return_run_details, true);
        assert.equal(result.stderr, `dispatched e2e.yml on ${REPO}@main (revision ${REVISION}, base_url ${BASE_URL}, correlation_id ${body.inputs.correlation_id})\n`
            + "the e2e run https://github.com/pakashop/pakashop/actions/runs/9000 concluded success\n");
        // It found the run by id: no listing of runs.
        assert.equal(standin.requests.filter((r) => r.path.endsWith("/runs")).length, 0);
    });

    it("without run details (204), finds its own run by the correlation id in the run-name, not a neighbour's", async () => {
        workflow({ returnRunDetails: false, listDelay: 2 });
        // A neighbour: dispatched on the same branch a moment earlier by someone else, failed.
        standin.addRun({
            repository: REPO, workflow: "e2e.yml", branch: "main", event: "workflow_dispatch", displayTitle: `E2E ${REVISION} 11111111-2222-4333-8444-555555555555`,
            statuses: ["completed"], conclusion: "failure", createdAt: new Date().toISOString(),
        });
        const result = await e2e(args());
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "run: https://github.com/pakashop/pakashop/actions/runs/9001\nconclusion: success\n");
        const list = standin.requests.find((r) => r.path === "/repos/pakashop/pakashop/actions/workflows/e2e.yml/runs")!;
        assert.equal(list.query.event, "workflow_dispatch");
        assert.equal(list.query.branch, "main");
        assert.match(list.query.created, /^>=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });

    it("fails when the run's name does not show the correlation id (the workflow lacks the run-name)", async () => {
        workflow({ returnRunDetails: false, runName: () => "E2E" });
        const result = await e2e(args("--timeout-minutes", "0.01"));
        assert.equal(result.code, 1);
        assert.equal(result.stdout, "");
        assert.match(result.stderr.split("\n")[1], new RegExp(`^error: no run of e2e.yml on ${REPO}@main showed correlation_id [0-9a-f-]{36} within 0.01 minutes; `
            + "the workflow must declare run-name: containing \\$\\{\\{ inputs.correlation_id \\}\\} \\(or GitHub has not started it: see the repository's Actions tab\\)$"));
    });

    it("fails when the dispatched run never appears (times out)", async () => {
        workflow({ returnRunDetails: false, startsRun: false });
        const started = Date.now();
        const result = await e2e(args("--timeout-minutes", "0.01"));
        assert.equal(result.code, 1);
        assert.match(result.stderr, /^error: no run of e2e\.yml on pakashop\/pakashop@main showed correlation_id [0-9a-f-]{36} within 0\.01 minutes; /m);
        assert.ok(Date.now() - started < 20_000, "gives up after the timeout");
        assert.ok(standin.requests.filter((r) => r.path.endsWith("/runs")).length >= 2, "polled the run list more than once");
    });

    it("fails when the run does not complete in time", async () => {
        workflow({ statuses: ["queued", "in_progress"] });
        const result = await e2e(args("--timeout-minutes", "0.01"));
        assert.equal(result.code, 1);
        assert.equal(result.stdout, "run: https://github.com/pakashop/pakashop/actions/runs/9000\n");
        assert.equal(result.stderr.split("\n")[1], "error: the e2e run https://github.com/pakashop/pakashop/actions/runs/9000 did not complete within 0.01 minutes "
            + "(last status: in_progress); raise --timeout-minutes or see why it is slow");
    });

    for (const conclusion of ["failure", "cancelled", "skipped", "timed_out"]) {
        it(`fails when the run concludes ${conclusion}`, async () => {
            workflow({ conclusion });
            const result = await e2e(args());
            assert.equal(result.code, 1);
            assert.equal(result.stdout, `run: https://github.com/pakashop/pakashop/actions/runs/9000\nconclusion: ${conclusion}\n`);
            assert.equal(result.stderr.split("\n")[1],
                `error: the e2e run https://github.com/pakashop/pakashop/actions/runs/9000 concluded ${conclusion}; only success passes ${FIX_ERROR}`);
        });
    }

    it("where GitHub rejects return_run_details, dispatches again without it and finds the run by correlation id", async () => {
        workflow({});
        standin.rejectReturnRunDetails = true;
        const result = await e2e(args());
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(dispatches().map((r) => (r.body as { return_run_details?: boolean }).return_run_details), [true, undefined]);
        // One run only: the rejected dispatch started none.
        assert.equal(standin.runs.size, 1);
    });

    it("reports a refused token with method, path and GitHub's message, and never prints the token", async () => {
        workflow({});
        const wrong = "github_pat_WrongDistinctiveSecret_0a1b2c3d";
        const result = await e2e(args(), { GH_TOKEN: wrong });
        assert.equal(result.code, 1);
        assert.equal(result.stdout, "");
        assert.equal(result.stderr, "error: GitHub API POST /repos/pakashop/pakashop/actions/workflows/e2e.yml/dispatches: HTTP 401: Bad credentials "
            + "(the token is missing, expired or revoked)\n");
        assert.ok(!result.stderr.includes(wrong));
    });

    it("masks the token where GitHub's message quotes it", async () => {
        workflow({});
        standin.echoTokenInErrors = true;
        const result = await e2e(args());
        assert.equal(result.code, 1);
        assert.equal(result.stderr, "error: GitHub API POST /repos/pakashop/pakashop/actions/workflows/e2e.yml/dispatches: HTTP 422: "
            + "Invalid request: credential *** may not dispatch\n");
    });

    it("reports an unknown workflow with GitHub's 404 and a hint", async () => {
        const result = await e2e(args());
        assert.equal(result.code, 1);
        assert.equal(result.stderr, "error: GitHub API POST /repos/pakashop/pakashop/actions/workflows/e2e.yml/dispatches: HTTP 404: Not Found "
            + "(it does not exist, or the token can't read it)\n");
    });

    const cases: [string, string[], Record<string, string | undefined>, string][] = [
        ["a short revision", args().map((a) => (a === REVISION ? "0123abc" : a)), {},
            "--revision must be a full 40-character lower-case commit id, not 0123abc"],
        ["a missing --ref", args().filter((a, i, all) => a !== "--ref" && all[i - 1] !== "--ref"), {}, "--ref is required"],
        ["an http base URL", args().map((a) => (a === BASE_URL ? "http://staging.pakashop.store" : a)), {},
            "--base-url must be an https:// address without credentials (https://staging.pakashop.store), not http://staging.pakashop.store"],
        ["a repository without owner", args().map((a) => (a === REPO ? "pakashop" : a)), {}, "--repository must be owner/name, not pakashop"],
        ["a zero poll interval", args("--poll-seconds", "0"), {}, "--poll-seconds must be a positive number, not 0"],
        ["an unset GH_TOKEN", args(), { GH_TOKEN: undefined }, "GH_TOKEN is not set: set it to a token with Actions read and write on the monorepo"],
    ];
    for (const [name, argv, env, message] of cases) {
        it(`refuses ${name} (exit code 2)`, async () => {
            const result = await e2e(argv, env);
            assert.equal(result.code, 2);
            assert.equal(result.stdout, "");
            assert.equal(result.stderr.split("\n")[0], message);
            assert.match(result.stderr.split("\n")[1], /^usage: npm run -s monorepo-e2e -- --repository <owner\/name> /);
            assert.equal(standin.requests.length, 0, "no request on a bad command line");
        });
    }

    it("never printed the token, in any output of this spec", () => {
        assert.ok(outputs.length >= 18);
        for (const output of outputs) assert.ok(!`${output.stdout}${output.stderr}`.includes(TOKEN), `${output.stdout}${output.stderr}`);
    });
});

describe("judgeRun", () => {
    const url = "https://github.com/pakashop/pakashop/actions/runs/1";
    it("waits while the run is not completed", () => {
        for (const status of ["queued", "in_progress", "waiting", "requested", "pending"]) assert.deepEqual(judgeRun({ status, conclusion: null, html_url: url }), { done: false });
    });
    it("passes success only", () => {
        assert.deepEqual(judgeRun({ status: "completed", conclusion: "success", html_url: url }), { done: true, code: 0, message: `the e2e run ${url} concluded success` });
        for (const conclusion of ["failure", "cancelled", "skipped", "timed_out", "neutral", "stale", "action_required", "startup_failure", null]) {
            const judged = judgeRun({ status: "completed", conclusion, html_url: url });
            assert.equal(judged.done && judged.code, 1, String(conclusion));
        }
    });
});
