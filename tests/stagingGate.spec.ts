/**
 * `npm run staging-gate` (tools/stagingGate.ts) against a stand-in GitHub
 * (tests/support/githubStandin.ts): a commit passes only when the latest `staging-verification`
 * status on it is a success posted by the verifier's login from a run of the staging deploy
 * workflow on main, or (a merge commit with no verdict of its own) when a parent is verified and
 * the compare lists nothing but allowed differences. Each check has a case that fails it.
 */
import { strict as assert } from "assert";
import { CommitStatus } from "../tools/github/api";
import { compareProblem, FIX, latestVerdict, runOfTargetUrl, workflowFileOf } from "../tools/stagingGate";
import { GitHubStandin, StatusSeed } from "./support/githubStandin";
import { runToolProcess, ToolRun } from "./support/toolProcess";

const MONO = "pakashop/pakashop";
const INFRA = "pakashop/pakashop-infra";
const LOGIN = "pakashop-verifier";
/** Distinctive, so any output that holds them is caught. */
const TOKEN = "github_pat_GateDistinctiveSecret_a1b2c3d4e5";
const VERIFIER_TOKEN = "ghs_VerifierDistinctiveSecret_f6e5d4c3";
const sha = (n: number) => n.toString(16).padStart(40, "c");
const short = (s: string) => s.slice(0, 12);
const GOOD_RUN = 7001;
const runUrl = (id: number, repository = INFRA) => `https://github.com/${repository}/actions/runs/${id}`;
const VERDICT = `staging-verification success by ${LOGIN} in ${runUrl(GOOD_RUN)}`;
/** Every output of the tool in this spec, checked for the tokens at the end. */
const outputs: ToolRun[] = [];

describe("staging gate (npm run staging-gate)", function () {
    this.timeout(60_000);
    let standin: GitHubStandin;

    beforeEach(async () => {
        standin = await new GitHubStandin().start();
        standin.allow(MONO, TOKEN).allow(INFRA, VERIFIER_TOKEN);
        standin.addRun({ id: GOOD_RUN, repository: INFRA, workflow: "deploy-staging.yml", branch: "main" });
        standin.addRun({ id: 7002, repository: INFRA, workflow: "other.yml", branch: "main" });
        standin.addRun({ id: 7003, repository: INFRA, workflow: "deploy-staging.yml", branch: "feature" });
    });
    afterEach(() => standin.stop());

    const args = (commit: string, ...extra: string[]) => [
        "--repository", MONO, "--commit", commit, "--verifier-repository", INFRA, "--verifier-workflow", "deploy-staging.yml",
        "--verifier-branch", "main", "--verifier-login", LOGIN, ...extra,
    ];
    async function gate(argv: string[], env: Record<string, string | undefined> = {}): Promise<ToolRun> {
        const result = await runToolProcess("tools/stagingGate.ts", argv, {
            GH_TOKEN: TOKEN, VERIFIER_TOKEN, GITHUB_API_URL: standin.url, GITHUB_SERVER_URL: "https://github.com", ...env,
        });
        outputs.push(result);
        return result;
    }
    const good: StatusSeed = { state: "success", login: LOGIN, targetUrl: runUrl(GOOD_RUN), description: "deploy, smoke-and-load and playwright passed" };
    const refused = (commit: string, what: string) => `staging-gate: ${MONO}@${commit} is not verified: ${what}. Fix: ${FIX}\n`;
    /** A commit with one parent that has no status. */
    const lone = (commit: string) => standin.commits.set(`${MONO}@${commit}`, { parents: [sha(1)] });

    it("passes a commit whose latest verdict is a success by the verifier from deploy-staging.yml on main", async () => {
        standin.addStatus(MONO, sha(10), { state: "success", context: "ci", login: "ci-bot" });
        standin.addStatus(MONO, sha(10), good);
        const result = await gate(args(sha(10)));
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `staging-gate: ${MONO}@${sha(10)} is verified: ${VERDICT}\n`);
        assert.equal(result.stderr, "");
        // Statuses read with GH_TOKEN, the run with VERIFIER_TOKEN.
        const statuses = standin.requests.find((r) => r.path === `/repos/${MONO}/commits/${sha(10)}/statuses`)!;
        assert.equal(statuses.token, TOKEN);
        assert.equal(statuses.query.per_page, "100");
        assert.equal(standin.requests.find((r) => r.path === `/repos/${INFRA}/actions/runs/${GOOD_RUN}`)!.token, VERIFIER_TOKEN);
    });

    it("uses GH_TOKEN for the runs too when VERIFIER_TOKEN is not set", async () => {
        standin.allow(INFRA, TOKEN);
        standin.addStatus(MONO, sha(10), good);
        const result = await gate(args(sha(10)), { VERIFIER_TOKEN: undefined });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(standin.requests.find((r) => r.path === `/repos/${INFRA}/actions/runs/${GOOD_RUN}`)!.token, TOKEN);
    });

    it("finds the verdict past the first page of statuses", async () => {
        standin.addStatus(MONO, sha(10), good);
        for (let i = 0; i < 150; i++) standin.addStatus(MONO, sha(10), { state: "success", context: `check-${i}`, login: "ci-bot" });
        const result = await gate(args(sha(10)));
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(standin.requests.filter((r) => r.path.endsWith("/statuses")).map((r) => r.query.page ?? "1"), ["1", "2"]);
    });

    it("refuses a commit with no staging-verification status (other contexts do not count)", async () => {
        standin.addStatus(MONO, sha(11), { state: "success", context: "ci", login: LOGIN, targetUrl: runUrl(GOOD_RUN) });
        lone(sha(11));
        const result = await gate(args(sha(11)));
        assert.equal(result.code, 1);
        assert.equal(result.stdout, "");
        assert.equal(result.stderr, refused(sha(11), `no staging-verification status; parent ${short(sha(1))}: no staging-verification status`));
    });

    it("refuses when the latest verdict is a failure, even over an older success (and passes the reverse order)", async () => {
        standin.addStatus(MONO, sha(12), good);
        standin.addStatus(MONO, sha(12), { state: "failure", login: LOGIN, targetUrl: runUrl(GOOD_RUN), description: "playwright failed" });
        const result = await gate(args(sha(12)));
        assert.equal(result.code, 1);
        assert.equal(result.stderr, refused(sha(12), "the latest staging-verification status is failure (\"playwright failed\")"));

        standin.addStatus(MONO, sha(13), { state: "failure", login: LOGIN, targetUrl: runUrl(GOOD_RUN), description: "playwright failed" });
        standin.addStatus(MONO, sha(13), good);
        assert.equal((await gate(args(sha(13)))).code, 0);
    });

    it("refuses a success posted by another login", async () => {
        standin.addStatus(MONO, sha(14), { ...good, login: "mallory" });
        const result = await gate(args(sha(14)));
        assert.equal(result.code, 1);
        assert.equal(result.stderr, refused(sha(14), `the latest staging-verification status was posted by mallory, not ${LOGIN}`));
    });

    describe("this repository's commit: a status by github-actions[bot] is no verdict", () => {
        // Any workflow of this repository, one a write-access user adds on a branch and runs on
        // pull_request included, can post a status as github-actions[bot] with its GITHUB_TOKEN,
        // and name a genuine Deploy staging run on main as target_url. The verdict is posted with
        // the machine account's token, and the gate (deploy-production.yml) checks its login.
        const BOT = "github-actions[bot]";
        const infraArgs = (commit: string) => [
            "--repository", INFRA, "--commit", commit, "--verifier-repository", INFRA, "--verifier-workflow", "deploy-staging.yml",
            "--verifier-branch", "main", "--verifier-login", LOGIN, "--allowed-difference", "Pulumi.production.yaml",
        ];
        // As the gate's second step runs it: the job's GITHUB_TOKEN reads both statuses and runs.
        const infraGate = (commit: string) => gate(infraArgs(commit), { GH_TOKEN: VERIFIER_TOKEN, VERIFIER_TOKEN });
        const refusedInfra = (commit: string, what: string) => `staging-gate: ${INFRA}@${commit} is not verified: ${what}. Fix: ${FIX}\n`;
        const byBot = `the latest staging-verification status was posted by ${BOT}, not ${LOGIN}`;

        it("refuses a success by github-actions[bot] that links to a genuine deploy-staging.yml run on main", async () => {
            standin.addStatus(INFRA, sha(40), { ...good, login: BOT });
            const result = await infraGate(sha(40));
            assert.equal(result.code, 1);
            assert.equal(result.stdout, "");
            assert.equal(result.stderr, refusedInfra(sha(40), byBot));
            // Refused on the login alone: the genuine run was not even read.
            assert.equal(standin.requests.filter((r) => r.path.includes("/actions/runs/")).length, 0);
            // The same status by the machine account passes: only the creator differs.
            standin.addStatus(INFRA, sha(41), good);
            const passed = await infraGate(sha(41));
            assert.equal(passed.code, 0, passed.stderr);
            assert.equal(passed.stdout, `staging-gate: ${INFRA}@${sha(41)} is verified: ${VERDICT}\n`);
        });

        it("refuses a bot's success posted over the machine account's (the latest counts)", async () => {
            standin.addStatus(INFRA, sha(42), good);
            standin.addStatus(INFRA, sha(42), { ...good, login: BOT });
            const result = await infraGate(sha(42));
            assert.equal(result.code, 1);
            assert.equal(result.stderr, refusedInfra(sha(42), byBot));
        });

        it("refuses a promotion merge whose main parent carries only a bot's success", async () => {
            const merge = sha(43);
            const previous = sha(44);
            const main = sha(45);
            standin.commits.set(`${INFRA}@${merge}`, { parents: [previous, main] });
            standin.addStatus(INFRA, main, { ...good, login: BOT });
            standin.comparisons.set(`${INFRA}@${main}...${merge}`, { status: "ahead", files: [{ filename: "Pulumi.production.yaml", status: "modified" }] });
            const result = await infraGate(merge);
            assert.equal(result.code, 1);
            assert.equal(result.stderr, refusedInfra(merge,
                `no staging-verification status; parent ${short(previous)}: no staging-verification status; parent ${short(main)}: ${byBot}`));
        });
    });

    it("refuses a success that links to a run of another workflow", async () => {
        standin.addStatus(MONO, sha(15), { ...good, targetUrl: runUrl(7002) });
        const result = await gate(args(sha(15)));
        assert.equal(result.code, 1);
        assert.equal(result.stderr, refused(sha(15),
            "the latest staging-verification status links to run 7002 of .github/workflows/other.yml, not .github/workflows/deploy-staging.yml"));
    });

    it("refuses a success that links to a run on another branch", async () => {
        standin.addStatus(MONO, sha(16), { ...good, targetUrl: runUrl(7003) });
        const result = await gate(args(sha(16)));
        assert.equal(result.code, 1);
        assert.equal(result.stderr, refused(sha(16), "the latest staging-verification status links to run 7003 on branch feature, not main"));
    });

    it("refuses a success that links to another repository's run, or to no run at all", async () => {
        const elsewhere = runUrl(GOOD_RUN, "mallory/pakashop-infra");
        standin.addStatus(MONO, sha(17), { ...good, targetUrl: elsewhere });
        const result = await gate(args(sha(17)));
        assert.equal(result.code, 1);
        assert.equal(result.stderr, refused(sha(17), `the latest staging-verification status links to ${elsewhere}, which is not a run of ${INFRA}`));
        // It did not even ask for that run.
        assert.equal(standin.requests.filter((r) => r.path.includes("/actions/runs/")).length, 0);

        standin.addStatus(MONO, sha(18), { ...good, targetUrl: null });
        assert.equal((await gate(args(sha(18)))).stderr,
            refused(sha(18), `the latest staging-verification status links to nothing, which is not a run of ${INFRA}`));

        standin.addStatus(MONO, sha(19), { ...good, targetUrl: runUrl(7999) });
        assert.equal((await gate(args(sha(19)))).stderr,
            refused(sha(19), `the latest staging-verification status links to run 7999, which ${INFRA} does not have (or VERIFIER_TOKEN can't read)`));
    });

    describe("release records on top of a promotion merge (production's head when its push's gate runs)", () => {
        // record2 -> record1 -> merge -> (previous, main): main verified; records and the merge
        // differ from what they stand on in Pulumi.production.yaml only.
        const [record2, record1, merge, previous, main] = [sha(40), sha(41), sha(42), sha(43), sha(44)];
        const manifest = [{ filename: "Pulumi.production.yaml", status: "modified" }];
        beforeEach(() => {
            standin.commits.set(`${MONO}@${record2}`, { parents: [record1] });
            standin.commits.set(`${MONO}@${record1}`, { parents: [merge] });
            standin.commits.set(`${MONO}@${merge}`, { parents: [previous, main] });
            standin.addStatus(MONO, main, good);
            standin.comparisons.set(`${MONO}@${main}...${merge}`, { status: "ahead", files: manifest });
            standin.comparisons.set(`${MONO}@${merge}...${record1}`, { status: "ahead", files: manifest });
        });

        it("passes through the records and the merge to the verified main commit", async () => {
            standin.comparisons.set(`${MONO}@${record1}...${record2}`, { status: "ahead", files: manifest });
            const result = await gate(args(record2, "--allowed-difference", "Pulumi.production.yaml"));
            assert.equal(result.code, 0, result.stderr);
            assert.equal(result.stdout, `staging-gate: ${MONO}@${record2} is verified through its ancestors ${record1} -> ${merge} -> ${main}: ${VERDICT}; the compare lists only allowed differences (Pulumi.production.yaml)\n`);
        });

        it("refuses when a commit on the way changes anything else", async () => {
            standin.comparisons.set(`${MONO}@${record1}...${record2}`, { status: "ahead", files: [...manifest, { filename: "index.ts", status: "modified" }] });
            const result = await gate(args(record2, "--allowed-difference", "Pulumi.production.yaml"));
            assert.equal(result.code, 1);
            assert.equal(result.stderr, refused(record2, `no staging-verification status; parent ${short(record1)}: no staging-verification status`));
        });

        it("walks no further than MAX_WALK commits", async () => {
            // 21 records in a row, each changing the manifest only, over the verified merge.
            let below = merge;
            let top = merge;
            for (let i = 0; i < 21; i++) {
                top = sha(100 + i);
                standin.commits.set(`${MONO}@${top}`, { parents: [below] });
                standin.comparisons.set(`${MONO}@${below}...${top}`, { status: "ahead", files: manifest });
                below = top;
            }
            standin.comparisons.set(`${MONO}@${record1}...${record2}`, { status: "ahead", files: manifest });
            const result = await gate(args(top, "--allowed-difference", "Pulumi.production.yaml"));
            assert.equal(result.code, 1, result.stdout);
            assert.match(result.stderr, /is not verified: no staging-verification status; parent [0-9a-f]{12}: no staging-verification status \(nor through its parents: /);
            const under = await gate(args(sha(100 + 18), "--allowed-difference", "Pulumi.production.yaml"));
            assert.equal(under.code, 0, `19 records and the merge are within reach: ${under.stderr}`);
        });
    });

    describe("a merge commit with no verdict of its own", () => {
        const merge = sha(30);
        const previous = sha(31); // production's previous tip: never verified
        const verified = sha(32); // main's tip: verified on staging
        beforeEach(() => {
            standin.commits.set(`${MONO}@${merge}`, { parents: [previous, verified] });
            standin.addStatus(MONO, verified, good);
        });
        const compare = (files: string[] | undefined, status = "ahead") => standin.comparisons.set(`${MONO}@${verified}...${merge}`,
            { status, files: files?.map((filename) => ({ filename, status: "modified" })) });

        it("passes when a parent is verified and the compare lists no file", async () => {
            compare([]);
            const result = await gate(args(merge));
            assert.equal(result.code, 0, result.stderr);
            assert.equal(result.stdout, `staging-gate: ${MONO}@${merge} is verified through its parent ${verified}: ${VERDICT}; the compare lists no changed file\n`);
        });

        it("refuses when the compare lists a changed file", async () => {
            compare(["services/cart/src/index.ts"]);
            const result = await gate(args(merge));
            assert.equal(result.code, 1);
            assert.equal(result.stderr, refused(merge, `no staging-verification status; parent ${short(previous)}: no staging-verification status; `
                + `parent ${short(verified)} is verified, but the compare lists 1 changed file outside the allowed differences: services/cart/src/index.ts`));
        });

        it("passes an allowed difference only when it is allowed", async () => {
            compare(["Pulumi.production.yaml"]);
            const refusedResult = await gate(args(merge));
            assert.equal(refusedResult.code, 1);
            assert.match(refusedResult.stderr, /the compare lists 1 changed file outside the allowed differences: Pulumi\.production\.yaml\. Fix: /);

            const result = await gate(args(merge, "--allowed-difference", "Pulumi.production.yaml"));
            assert.equal(result.code, 0, result.stderr);
            assert.equal(result.stdout, `staging-gate: ${MONO}@${merge} is verified through its parent ${verified}: ${VERDICT}; `
                + "the compare lists only allowed differences (Pulumi.production.yaml)\n");
        });

        it("refuses an allowed difference next to another one", async () => {
            compare(["Pulumi.production.yaml", "index.ts"]);
            const result = await gate(args(merge, "--allowed-difference", "Pulumi.production.yaml"));
            assert.equal(result.code, 1);
            assert.match(result.stderr, /the compare lists 1 changed file outside the allowed differences: index\.ts\. Fix: /);
        });

        it("refuses a compare of 300 files (GitHub lists no more), allowed or not", async () => {
            const files = Array.from({ length: 300 }, (_, i) => `file-${i}.ts`);
            compare(files);
            const result = await gate(args(merge, ...files.flatMap((f) => ["--allowed-difference", f])));
            assert.equal(result.code, 1);
            assert.match(result.stderr, new RegExp(`parent ${short(verified)} is verified, but the compare lists 300 files \\(GitHub lists at most 300, so the rest can't be checked\\)\\. Fix: `));
        });

        it("refuses a compare that is not ahead", async () => {
            compare([], "diverged");
            const result = await gate(args(merge));
            assert.equal(result.code, 1);
            assert.match(result.stderr, new RegExp(`parent ${short(verified)} is verified, but the compare says diverged, not ahead\\. Fix: `));
        });

        it("does not rescue a merge commit whose own latest verdict failed", async () => {
            compare([]);
            standin.addStatus(MONO, merge, { state: "failure", login: LOGIN, targetUrl: runUrl(GOOD_RUN), description: "smoke-and-load failed" });
            const result = await gate(args(merge));
            assert.equal(result.code, 1);
            assert.equal(result.stderr, refused(merge, "the latest staging-verification status is failure (\"smoke-and-load failed\")"));
        });
    });

    it("reports an API error with method, path, status and GitHub's message, without the tokens", async () => {
        standin.addStatus(MONO, sha(10), good);
        const result = await gate(args(sha(10)), { VERIFIER_TOKEN: "ghs_WrongVerifierDistinctive_99" });
        assert.equal(result.code, 1);
        assert.equal(result.stderr, `error: GitHub API GET /repos/${INFRA}/actions/runs/${GOOD_RUN}: HTTP 401: Bad credentials (the token is missing, expired or revoked)\n`);
        assert.ok(!result.stderr.includes("ghs_WrongVerifierDistinctive_99"));
    });

    it("reports an unknown commit with GitHub's message", async () => {
        const result = await gate(args(sha(99)));
        assert.equal(result.code, 1);
        assert.equal(result.stderr, `error: GitHub API GET /repos/${MONO}/commits/${sha(99)}: HTTP 422: No commit found for SHA: ${sha(99)}\n`);
    });

    const usageCases: [string, string[], Record<string, string | undefined>, string][] = [
        ["a short commit id", args("abc123"), {}, "--commit must be a full 40-character lower-case commit id, not abc123 (pass the full id: --commit \"$(git rev-parse <commit>)\")"],
        ["an upper-case commit id", args(sha(10).toUpperCase()), {},
            `--commit must be a full 40-character lower-case commit id, not ${sha(10).toUpperCase()} (write it in lower case: --commit ${sha(10)})`],
        ["a missing --verifier-login", args(sha(10)).slice(0, -2), {}, "--verifier-login is required"],
        ["an empty --verifier-login (vars.STAGING_VERIFIER_LOGIN unset)", [...args(sha(10)).slice(0, -1), ""], {}, "--verifier-login is required"],
        ["a bad --verifier-repository", args(sha(10)).map((a) => (a === INFRA ? "pakashop-infra" : a)), {}, "--verifier-repository must be owner/name, not pakashop-infra"],
        ["an absolute --allowed-difference", args(sha(10), "--allowed-difference", "/etc/passwd"), {},
            "--allowed-difference must be a file path relative to the repository's root (Pulumi.production.yaml), not \"/etc/passwd\""],
        ["an unknown flag", args(sha(10), "--force"), {}, "unknown argument --force"],
        ["an unset GH_TOKEN", args(sha(10)), { GH_TOKEN: undefined }, `GH_TOKEN is not set: set it to a token that reads commit statuses and contents of ${MONO}`],
    ];
    for (const [name, argv, env, message] of usageCases) {
        it(`refuses ${name} (exit code 2)`, async () => {
            const result = await gate(argv, env);
            assert.equal(result.code, 2);
            assert.equal(result.stdout, "");
            assert.equal(result.stderr.split("\n")[0], message);
            assert.match(result.stderr.split("\n")[1], /^usage: npm run -s staging-gate -- --repository <owner\/name> --commit <40-hex commit> /);
            assert.equal(standin.requests.length, 0);
        });
    }

});

// After every suite above (mocha runs a suite's nested suites after its own tests).
describe("staging gate's outputs", () => {
    it("never printed a token", () => {
        assert.ok(outputs.length >= 25, String(outputs.length));
        for (const output of outputs) {
            const text = `${output.stdout}${output.stderr}`;
            assert.ok(!text.includes(TOKEN) && !text.includes(VERIFIER_TOKEN), text);
        }
    });
});

describe("staging gate's pure checks", () => {
    it("takes the first status of the context as the latest (GitHub lists newest first)", () => {
        const status = (id: number, state: string, context = "staging-verification"): CommitStatus =>
            ({ id, state, context, description: null, target_url: null, created_at: "2026-11-27T08:00:00Z", creator: { login: LOGIN } });
        assert.equal(latestVerdict([status(3, "success", "ci"), status(2, "failure"), status(1, "success")])?.id, 2);
        assert.equal(latestVerdict([status(3, "success", "ci")]), undefined);
    });

    it("reads run links of the server only", () => {
        assert.deepEqual(runOfTargetUrl(`${runUrl(5)}/attempts/2`, "https://github.com"), { repository: INFRA, runId: 5 });
        assert.deepEqual(runOfTargetUrl(`${runUrl(5)}/job/77`, "https://github.com/"), { repository: INFRA, runId: 5 });
        assert.equal(runOfTargetUrl(runUrl(5).replace("github.com", "github.com.evil.example"), "https://github.com"), undefined);
        assert.equal(runOfTargetUrl(`https://github.com/${INFRA}/pull/5`, "https://github.com"), undefined);
        assert.equal(runOfTargetUrl(`https://github.com/${INFRA}/actions/runs/5/../../runs/6`, "https://github.com"), undefined);
    });

    it("reads a run's workflow file with or without repository and ref", () => {
        assert.equal(workflowFileOf({ path: ".github/workflows/deploy-staging.yml" }, INFRA), ".github/workflows/deploy-staging.yml");
        assert.equal(workflowFileOf({ path: `${INFRA}/.github/workflows/deploy-staging.yml@refs/heads/main` }, INFRA), ".github/workflows/deploy-staging.yml");
        assert.equal(workflowFileOf({ path: "mallory/x/.github/workflows/deploy-staging.yml@main" }, INFRA), "mallory/x/.github/workflows/deploy-staging.yml");
    });

    it("counts both names of a renamed file", () => {
        const files = [{ filename: "Pulumi.production.yaml", status: "renamed", previous_filename: "secrets.yaml" }];
        assert.equal(compareProblem({ status: "ahead", ahead_by: 1, behind_by: 0, files }, ["Pulumi.production.yaml"]),
            "the compare lists 1 changed file outside the allowed differences: secrets.yaml");
        assert.equal(compareProblem({ status: "ahead", ahead_by: 1, behind_by: 0, files }, ["Pulumi.production.yaml", "secrets.yaml"]), undefined);
        assert.equal(compareProblem({ status: "ahead", ahead_by: 1, behind_by: 0 }, []), "the compare lists no files at all (GitHub gave no file list)");
    });
});
