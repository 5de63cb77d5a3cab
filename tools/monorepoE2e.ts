/**
 * `npm run -s monorepo-e2e -- --repository <owner/name> --workflow <file.yml> --ref <branch>
 *   --revision <40-hex commit> --base-url <https://host> [--timeout-minutes 45] [--poll-seconds 15]`
 *
 * Runs the services monorepo's Playwright suite against staging, for the deploy's `playwright`
 * job (docs/runbook.md): dispatches the monorepo's e2e workflow with the inputs `revision`,
 * `base_url` and `correlation_id`, finds the run that dispatch started, waits for it to complete
 * and passes only when its conclusion is `success`.
 *
 * Finding the run: the dispatch is sent with `return_run_details: true`, which makes GitHub answer
 * 200 with the run's id (GitHub changelog 2026-02-19, "Workflow dispatch API now returns run IDs":
 * "you can pass in a new optional boolean parameter, return_run_details, which will return a
 * 200 OK response containing the workflow ID, API URL, and workflow URL"; the response schema
 * `workflow-dispatch-response` has `workflow_run_id`, `run_url`, `html_url`). Where GitHub answers
 * the old way (204 No Content, e.g. a GitHub Enterprise Server without the parameter; one that
 * rejects the parameter with 400/422 gets the dispatch again without it), the run is found by its
 * correlation id: the monorepo's workflow must declare `run-name: ... ${{ inputs.correlation_id }}`,
 * which GitHub shows as the run's `display_title` ("List workflow runs for a workflow").
 *
 * Env: GH_TOKEN (never printed; fine-grained: Actions read and write on the monorepo),
 * GITHUB_API_URL (default https://api.github.com).
 * Prints `run: <url>` and `conclusion: <conclusion>` on stdout. Exit codes: 0 the run concluded
 * success; 1 any other conclusion (failure, cancelled, skipped, timed_out, neutral, stale,
 * action_required, startup_failure), no run found or not completed in time, or an API error;
 * 2 bad command line or GH_TOKEN not set. `--timeout-minutes` and `--poll-seconds` take
 * fractions (the tests poll every 0.05 s).
 */
import "./fastStart"; // first: caches the compilation of everything imported after it
import { randomUUID } from "crypto";
import { runAsScript, runTool, UsageError, parseFlags } from "./cli";
import { apiUrlFrom, GitHubApiError, GitHubClient, redact, repoPath, REPOSITORY, WorkflowRun } from "./github/api";

const USAGE = "usage: npm run -s monorepo-e2e -- --repository <owner/name> --workflow <file.yml> --ref <branch> "
    + "--revision <40-hex commit> --base-url <https://host> [--timeout-minutes 45] [--poll-seconds 15]  (env GH_TOKEN, GITHUB_API_URL)";

const REVISION = /^[0-9a-f]{40}$/;
const WORKFLOW_FILE = /^[A-Za-z0-9._-]+\.ya?ml$/;
const BRANCH = /^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]+$/;

export interface E2eArgs {
    readonly repository: string;
    readonly workflow: string;
    readonly ref: string;
    readonly revision: string;
    readonly baseUrl: string;
    readonly timeoutMinutes: number;
    readonly pollSeconds: number;
}

/** A positive number flag (fractions allowed); `fallback` when not given. */
function positive(flag: string, value: string | undefined, fallback: number): number {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0)) throw new UsageError(`${flag} must be a positive number, not ${value}`);
    return n;
}

/** Reads and checks the command line; throws {@link UsageError} naming the flag. */
export function parseArgs(argv: string[]): E2eArgs {
    const flags = parseFlags(argv, {
        "--repository": "repository", "--workflow": "workflow", "--ref": "ref", "--revision": "revision",
        "--base-url": "baseUrl", "--timeout-minutes": "timeoutMinutes", "--poll-seconds": "pollSeconds",
    });
    for (const [flag, name] of [["--repository", "repository"], ["--workflow", "workflow"], ["--ref", "ref"], ["--revision", "revision"], ["--base-url", "baseUrl"]]) {
        if (flags[name] === undefined) throw new UsageError(`${flag} is required`);
    }
    if (!REPOSITORY.test(flags.repository)) throw new UsageError(`--repository must be owner/name, not ${flags.repository}`);
    if (!WORKFLOW_FILE.test(flags.workflow)) throw new UsageError(`--workflow must be the workflow's file name in .github/workflows (e2e.yml), not ${flags.workflow}`);
    if (!BRANCH.test(flags.ref)) throw new UsageError(`--ref must be a branch name (main), not ${flags.ref}`);
    if (!REVISION.test(flags.revision)) {
        throw new UsageError(`--revision must be a full 40-character lower-case commit id, not ${flags.revision}`);
    }
    let url: URL | undefined;
    try {
        url = new URL(flags.baseUrl);
    } catch {
        url = undefined;
    }
    if (url === undefined || url.protocol !== "https:" || url.username || url.password) {
        throw new UsageError(`--base-url must be an https:// address without credentials (https://staging.pakashop.store), not ${flags.baseUrl}`);
    }
    return {
        repository: flags.repository, workflow: flags.workflow, ref: flags.ref, revision: flags.revision, baseUrl: flags.baseUrl,
        timeoutMinutes: positive("--timeout-minutes", flags.timeoutMinutes, 45),
        pollSeconds: positive("--poll-seconds", flags.pollSeconds, 15),
    };
}

/** A run's verdict: not yet (still running), or the exit code and the line that says why. */
export type RunJudgement = { readonly done: false } | { readonly done: true; readonly code: 0 | 1; readonly message: string };

/**
 * Judges a run: undecided until its status is `completed`; then 0 only for the conclusion
 * `success`. Every other conclusion fails, `skipped` and `neutral` included: a suite that did
 * not run proved nothing.
 */
export function judgeRun(run: Pick<WorkflowRun, "status" | "conclusion" | "html_url">): RunJudgement {
    if (run.status !== "completed") return { done: false };
    if (run.conclusion === "success") return { done: true, code: 0, message: `the e2e run ${run.html_url} concluded success` };
    return {
        done: true, code: 1,
        message: `the e2e run ${run.html_url} concluded ${run.conclusion ?? "(no conclusion)"}; only success passes (the run's logs say what failed)`,
    };
}

/** Whether `run` is the one dispatched with `correlationId` (its run-name shows the id). */
export function isDispatchedRun(run: Pick<WorkflowRun, "display_title" | "name" | "event">, correlationId: string): boolean {
    return run.event === "workflow_dispatch" && (run.display_title ?? run.name ?? "").includes(correlationId);
}

/** The answer of "Create a workflow dispatch event" with `return_run_details`. */
interface DispatchDetails {
    readonly workflow_run_id?: number;
    readonly run_url?: string;
    readonly html_url?: string;
}

/** The inputs the monorepo's e2e workflow declares under `on: workflow_dispatch: inputs:`. */
export function dispatchInputs(args: Pick<E2eArgs, "revision" | "baseUrl">, correlationId: string): Record<string, string> {
    return { revision: args.revision, base_url: args.baseUrl, correlation_id: correlationId };
}

/**
 * Dispatches the workflow; the run's id when GitHub returned it (200), else undefined (204).
 * A server that rejects `return_run_details` (400 or 422 naming it) gets the dispatch again
 * without it: a rejected dispatch started no run, so this never starts two.
 */
async function dispatch(client: GitHubClient, args: E2eArgs, correlationId: string): Promise<number | undefined> {
    const path = `${repoPath(args.repository)}/actions/workflows/${encodeURIComponent(args.workflow)}/dispatches`;
    const body = { ref: args.ref, inputs: dispatchInputs(args, correlationId) };
    try {
        const response = await client.request<DispatchDetails | undefined>("POST", path, { body: { ...body, return_run_details: true } });
        const id = response.status === 200 ? response.data?.workflow_run_id : undefined;
        return typeof id === "number" ? id : undefined;
    } catch (error) {
        if (!(error instanceof GitHubApiError && (error.status === 400 || error.status === 422) && /return_run_details/.test(error.githubMessage))) throw error;
        await client.request("POST", path, { body });
        return undefined;
    }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Whether an error is worth another poll: no answer, or a server error. */
function transient(error: unknown): boolean {
    return error instanceof GitHubApiError && (error.status === undefined || error.status >= 500);
}

/**
 * Calls `poll` every `pollMs` until it returns a value or `deadline` passes (then undefined).
 * Up to 5 transient errors in a row are reported on stderr and polled over.
 */
async function pollUntil<T>(deadline: number, pollMs: number, poll: () => Promise<T | undefined>): Promise<T | undefined> {
    let failures = 0;
    for (;;) {
        try {
            const value = await poll();
            failures = 0;
            if (value !== undefined) return value;
        } catch (error) {
            if (!transient(error) || ++failures > 5) throw error;
            process.stderr.write(`note: ${(error as Error).message}; polling again\n`);
        }
        if (Date.now() >= deadline) return undefined;
        await sleep(Math.min(pollMs, deadline - Date.now()));
    }
}

/** Dispatches, finds and waits for the run; returns the exit code. */
export async function runE2e(client: GitHubClient, args: E2eArgs, out: (line: string) => void, err: (line: string) => void): Promise<number> {
    const started = Date.now();
    const deadline = started + args.timeoutMinutes * 60_000;
    const pollMs = args.pollSeconds * 1000;
    const minutes = `${args.timeoutMinutes} minute${args.timeoutMinutes === 1 ? "" : "s"}`;
    const correlationId = randomUUID();
    const where = `${args.workflow} on ${args.repository}@${args.ref}`;

    const returnedId = await dispatch(client, args, correlationId);
    err(`dispatched ${where} (revision ${args.revision}, base_url ${args.baseUrl}, correlation_id ${correlationId})`);

    let runId = returnedId;
    if (runId === undefined) {
        // Runs created from a minute before the dispatch on (clocks differ); `created` takes
        // GitHub's search syntax ("Understanding the search syntax": >=YYYY-MM-DDTHH:MM:SSZ).
        const since = new Date(started - 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");
        const found = await pollUntil(deadline, pollMs, async () => {
            const list = await client.get<{ workflow_runs: WorkflowRun[] }>(
                `${repoPath(args.repository)}/actions/workflows/${encodeURIComponent(args.workflow)}/runs`,
                { event: "workflow_dispatch", branch: args.ref.replace(/^refs\/heads\//, ""), created: `>=${since}`, per_page: 100 });
            return (list.workflow_runs ?? []).find((run) => isDispatchedRun(run, correlationId));
        });
        if (found === undefined) {
            err(`error: no run of ${where} showed correlation_id ${correlationId} within ${minutes}; `
                + "the workflow must declare run-name: containing ${{ inputs.correlation_id }} (or GitHub has not started it: see the repository's Actions tab)");
            return 1;
        }
        runId = found.id;
    }

    let last: WorkflowRun | undefined;
    let printed = false;
    const judged = await pollUntil(deadline, pollMs, async () => {
        try {
            last = await client.get<WorkflowRun>(`${repoPath(args.repository)}/actions/runs/${runId}`);
        } catch (error) {
            // A run GitHub just returned the id of may not be readable yet: ask again.
            if (error instanceof GitHubApiError && error.status === 404 && last === undefined) return undefined;
            throw error;
        }
        if (!printed) {
            out(`run: ${last.html_url}`);
            printed = true;
        }
        const judgement = judgeRun(last);
        return judgement.done ? judgement : undefined;
    });
    if (judged === undefined || !judged.done) {
        err(`error: the e2e run ${last?.html_url ?? runId} did not complete within ${minutes} (last status: ${last?.status ?? "unknown"}); `
            + "raise --timeout-minutes or see why it is slow");
        return 1;
    }
    out(`conclusion: ${last!.conclusion}`);
    if (judged.code !== 0) err(`error: ${judged.message}`);
    else err(judged.message);
    return judged.code;
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, (a) => {
        const args = parseArgs(a);
        if (!process.env.GH_TOKEN) throw new UsageError("GH_TOKEN is not set: set it to a token with Actions read and write on the monorepo");
        return args;
    }, async (args) => {
        const token = process.env.GH_TOKEN!;
        const client = new GitHubClient({ token, apiUrl: apiUrlFrom(process.env) });
        const write = (stream: NodeJS.WriteStream) => (line: string) => stream.write(`${redact(line, token)}\n`);
        try {
            return await runE2e(client, args, write(process.stdout), write(process.stderr));
        } catch (error) {
            // runTool prints `error: <message>`; the message never holds the token (see
            // tools/github/api.ts), masked again here in case a future message does.
            if (error instanceof Error) error.message = redact(error.message, token);
            throw error;
        }
    });
}

runAsScript(module, main);
