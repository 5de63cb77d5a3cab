/**
 * `npm run -s staging-gate -- --repository <owner/name> --commit <40-hex commit>
 *   --verifier-repository <owner/name> --verifier-workflow deploy-staging.yml --verifier-branch main
 *   --verifier-login <login> [--allowed-difference <path>]...`
 *
 * The production deploy's gate (docs/runbook.md): a commit may go to production only when staging
 * verified it. The verdict is the commit status {@link STAGING_VERIFICATION_CONTEXT} that the
 * staging deploy's `verdict` job posts (tools/github/statusContext.ts says why a status and not a
 * job's check). A commit is verified when
 * - the LATEST status of that context on it is `success` ("List commit statuses for a reference":
 *   "Statuses are returned in reverse chronological order. The first status in the list will be
 *   the latest one"), so a later failure outweighs an earlier success;
 * - its creator is `--verifier-login` (whoever else can post statuses can't verify);
 * - its `target_url` is a run of `--verifier-repository` whose workflow file is
 *   `.github/workflows/<--verifier-workflow>` on the branch `--verifier-branch` (read with
 *   "Get a workflow run"), so a status posted by another workflow or from another branch does not
 *   count.
 * A commit with no status of the context at all (typically the merge commit that brings main
 * into production) is verified through a parent: a parent that is verified as above, when
 * "Compare two commits" (parent...commit) says `ahead` and lists only files named by
 * `--allowed-difference` (none given: the trees must be identical). A parent without a status
 * of its own that differs only in those files (a release record on top of that merge) is walked
 * through the same way, up to {@link MAX_WALK} commits back. GitHub lists at most 300
 * files, so a listing of 300 or more is refused: the rest can't be seen. A commit whose own
 * latest status fails a check is NOT rescued by a parent: the newest verdict on that very tree
 * is what counts.
 *
 * Env: GH_TOKEN reads the statuses and commits of --repository (fine-grained: Commit statuses
 * read, Contents read); VERIFIER_TOKEN reads the runs of --verifier-repository (Actions read;
 * when unset, GH_TOKEN is used); GITHUB_API_URL (default https://api.github.com);
 * GITHUB_SERVER_URL (where run pages live, default https://github.com). Tokens are never printed.
 * Exit codes: 0 verified (stdout says which commit carried the verdict), 1 not verified (one
 * line on stderr: the commit, what was found, the fix) or an API error, 2 bad command line.
 */
import "./fastStart"; // first: caches the compilation of everything imported after it
import { runAsScript, runTool, UsageError, parseFlags } from "./cli";
import {
    apiUrlFrom, Commit, CommitStatus, Comparison, GitHubApiError, GitHubClient, redact, repoPath, REPOSITORY, serverUrlFrom, WorkflowRun,
} from "./github/api";
import { STAGING_VERIFICATION_CONTEXT } from "./github/statusContext";

const USAGE = "usage: npm run -s staging-gate -- --repository <owner/name> --commit <40-hex commit> --verifier-repository <owner/name> "
    + "--verifier-workflow <file.yml> --verifier-branch <branch> --verifier-login <login> [--allowed-difference <path>]...  "
    + "(env GH_TOKEN, VERIFIER_TOKEN, GITHUB_API_URL, GITHUB_SERVER_URL)";

/** The fix every refusal names. */
export const FIX = "deploy it to staging and let the verification pass, or an emergency bypass (docs/runbook.md, section 12)";

/** GitHub lists at most this many files of a comparison ("Compare two commits"). */
export const COMPARE_FILE_LIMIT = 300;

const COMMIT = /^[0-9a-f]{40}$/;

export interface GateArgs {
    readonly repository: string;
    readonly commit: string;
    readonly verifierRepository: string;
    readonly verifierWorkflow: string;
    readonly verifierBranch: string;
    readonly verifierLogin: string;
    readonly allowedDifferences: readonly string[];
}

/** What the gate checks a status against. */
export type Expectation = Pick<GateArgs, "verifierRepository" | "verifierWorkflow" | "verifierBranch" | "verifierLogin"> & {
    /** Where run pages live (GITHUB_SERVER_URL), e.g. https://github.com. */
    readonly serverUrl: string;
};

/** Reads and checks the command line; throws {@link UsageError} naming the flag. */
export function parseArgs(argv: string[]): GateArgs {
    const allowed: string[] = [];
    const flags = parseFlags(argv, {
        "--repository": "repository", "--commit": "commit", "--verifier-repository": "verifierRepository",
        "--verifier-workflow": "verifierWorkflow", "--verifier-branch": "verifierBranch", "--verifier-login": "verifierLogin",
    }, { lists: { "--allowed-difference": allowed } });
    for (const value of allowed) {
        if (value === "" || value.startsWith("/") || value.split("/").includes("..")) {
            throw new UsageError(`--allowed-difference must be a file path relative to the repository's root (Pulumi.production.yaml), not ${JSON.stringify(value)}`);
        }
    }
    for (const [flag, name] of [["--repository", "repository"], ["--commit", "commit"], ["--verifier-repository", "verifierRepository"],
        ["--verifier-workflow", "verifierWorkflow"], ["--verifier-branch", "verifierBranch"], ["--verifier-login", "verifierLogin"]]) {
        if (!flags[name]) throw new UsageError(`${flag} is required`);
    }
    for (const [flag, name] of [["--repository", "repository"], ["--verifier-repository", "verifierRepository"]]) {
        if (!REPOSITORY.test(flags[name])) throw new UsageError(`${flag} must be owner/name, not ${flags[name]}`);
    }
    if (!COMMIT.test(flags.commit)) {
        const lower = flags.commit.toLowerCase();
        throw new UsageError(`--commit must be a full 40-character lower-case commit id, not ${flags.commit}`
            + (COMMIT.test(lower) ? ` (write it in lower case: --commit ${lower})` : " (pass the full id: --commit \"$(git rev-parse <commit>)\")"));
    }
    if (!/^[A-Za-z0-9._-]+\.ya?ml$/.test(flags.verifierWorkflow)) {
        throw new UsageError(`--verifier-workflow must be the workflow's file name in .github/workflows (deploy-staging.yml), not ${flags.verifierWorkflow}`);
    }
    return {
        repository: flags.repository, commit: flags.commit, verifierRepository: flags.verifierRepository,
        verifierWorkflow: flags.verifierWorkflow, verifierBranch: flags.verifierBranch, verifierLogin: flags.verifierLogin,
        allowedDifferences: allowed,
    };
}

/** The latest status of the verification context: the first one listed (newest first), or undefined. */
export function latestVerdict(statuses: readonly CommitStatus[]): CommitStatus | undefined {
    return statuses.find((s) => s.context === STAGING_VERIFICATION_CONTEXT);
}

/**
 * The run a status links to: `<server>/<owner>/<repo>/actions/runs/<id>` (optionally
 * `/attempts/<n>` or `/job/<id>`), or undefined when the link is not a run page of that server.
 */
export function runOfTargetUrl(targetUrl: string | null, serverUrl: string): { repository: string; runId: number } | undefined {
    if (!targetUrl) return undefined;
    const server = serverUrl.replace(/\/+$/, "");
    if (!targetUrl.startsWith(`${server}/`)) return undefined;
    const match = /^([^/?#]+)\/([^/?#]+)\/actions\/runs\/(\d+)(?:\/attempts\/\d+|\/job\/\d+)?\/?(?:[?#].*)?$/.exec(targetUrl.slice(server.length + 1));
    return match ? { repository: `${match[1]}/${match[2]}`, runId: Number(match[3]) } : undefined;
}

/** A run's workflow file, `.github/workflows/x.yml`, from its `path` (which may carry `owner/repo/` and `@ref`). */
export function workflowFileOf(run: Pick<WorkflowRun, "path">, repository: string): string {
    let path = run.path.replace(/@[^@]*$/, "");
    const prefix = `${repository.toLowerCase()}/`;
    if (path.toLowerCase().startsWith(prefix)) path = path.slice(prefix.length);
    return path;
}

/** A verdict on one commit: verified (by which status) or not (and why, as a phrase). */
export type Verdict =
    | { readonly verified: true; readonly status: CommitStatus }
    | { readonly verified: false; readonly reason: string; readonly noStatus?: boolean };

/**
 * Judges a commit's statuses (newest first) and, once fetched, the run its latest verdict links
 * to. Pass `run` undefined first: when the status itself passes, the verdict asks for the run
 * ({@link runToFetch}); `run` null means the run does not exist (or can't be read).
 */
export function verdictOf(statuses: readonly CommitStatus[], run: WorkflowRun | null | undefined, expect: Expectation): Verdict {
    const status = latestVerdict(statuses);
    if (status === undefined) return { verified: false, reason: `no ${STAGING_VERIFICATION_CONTEXT} status`, noStatus: true };
    const latest = `the latest ${STAGING_VERIFICATION_CONTEXT} status`;
    if (status.state !== "success") {
        return { verified: false, reason: `${latest} is ${status.state}${status.description ? ` ("${status.description}")` : ""}` };
    }
    const login = status.creator?.login ?? "(unknown)";
    if (login !== expect.verifierLogin) return { verified: false, reason: `${latest} was posted by ${login}, not ${expect.verifierLogin}` };
    const target = runOfTargetUrl(status.target_url, expect.serverUrl);
    if (target === undefined || target.repository.toLowerCase() !== expect.verifierRepository.toLowerCase()) {
        return { verified: false, reason: `${latest} links to ${status.target_url ?? "nothing"}, which is not a run of ${expect.verifierRepository}` };
    }
    if (run === undefined) throw new Error(`verdictOf: fetch run ${target.runId} of ${expect.verifierRepository} first`);
    if (run === null || run.id !== target.runId) {
        return { verified: false, reason: `${latest} links to run ${target.runId}, which ${expect.verifierRepository} does not have (or VERIFIER_TOKEN can't read)` };
    }
    if (run.repository && run.repository.full_name.toLowerCase() !== expect.verifierRepository.toLowerCase()) {
        return { verified: false, reason: `${latest} links to a run of ${run.repository.full_name}, not ${expect.verifierRepository}` };
    }
    const file = workflowFileOf(run, expect.verifierRepository);
    const wanted = `.github/workflows/${expect.verifierWorkflow}`;
    if (file !== wanted) return { verified: false, reason: `${latest} links to run ${run.id} of ${file}, not ${wanted}` };
    if (run.head_branch !== expect.verifierBranch) {
        return { verified: false, reason: `${latest} links to run ${run.id} on branch ${run.head_branch ?? "(none)"}, not ${expect.verifierBranch}` };
    }
    return { verified: true, status };
}

/** The run {@link verdictOf} needs, when the latest status passes the checks that need no run. */
export function runToFetch(statuses: readonly CommitStatus[], expect: Expectation): number | undefined {
    const status = latestVerdict(statuses);
    if (status === undefined || status.state !== "success" || status.creator?.login !== expect.verifierLogin) return undefined;
    const target = runOfTargetUrl(status.target_url, expect.serverUrl);
    return target && target.repository.toLowerCase() === expect.verifierRepository.toLowerCase() ? target.runId : undefined;
}

/**
 * Judges the comparison parent...commit: passes when the commit is ahead of its parent and every
 * listed file (both names of a rename) is an allowed difference. Returns undefined when it
 * passes, else the reason.
 */
export function compareProblem(comparison: Comparison, allowed: readonly string[]): string | undefined {
    if (comparison.status !== "ahead") return `the compare says ${comparison.status}, not ahead`;
    const files = comparison.files;
    if (files === undefined) return "the compare lists no files at all (GitHub gave no file list)";
    if (files.length >= COMPARE_FILE_LIMIT) {
        return `the compare lists ${files.length} files (GitHub lists at most ${COMPARE_FILE_LIMIT}, so the rest can't be checked)`;
    }
    const names = [...new Set(files.flatMap((f) => (f.previous_filename ? [f.previous_filename, f.filename] : [f.filename])))];
    const outside = names.filter((name) => !allowed.includes(name));
    if (outside.length > 0) {
        const shown = outside.slice(0, 5).join(", ") + (outside.length > 5 ? `, and ${outside.length - 5} more` : "");
        return `the compare lists ${outside.length} changed file${outside.length === 1 ? "" : "s"} outside the allowed differences: ${shown}`;
    }
    return undefined;
}

/** The gate's outcome: the exit code and the one line to print. */
export interface GateResult {
    readonly code: 0 | 1;
    readonly message: string;
}

/** Where the tool reads: the monorepo (or this repository) and the verifier repository. */
export interface GateClients {
    readonly repository: GitHubClient;
    readonly verifier: GitHubClient;
}

/** Reads a commit's statuses (newest first) until the first of the verification context. */
async function statusesOf(client: GitHubClient, repository: string, commit: string): Promise<CommitStatus[]> {
    const statuses: CommitStatus[] = [];
    for await (const status of client.pages<CommitStatus>(`${repoPath(repository)}/commits/${commit}/statuses`)) {
        statuses.push(status);
        if (status.context === STAGING_VERIFICATION_CONTEXT) break; // the latest one is all that counts
    }
    return statuses;
}

/** Judges one commit: its statuses, and the run its latest verdict links to. */
async function judgeCommit(clients: GateClients, repository: string, commit: string, expect: Expectation): Promise<Verdict> {
    const statuses = await statusesOf(clients.repository, repository, commit);
    const runId = runToFetch(statuses, expect);
    let run: WorkflowRun | null | undefined = undefined;
    if (runId !== undefined) {
        try {
            run = await clients.verifier.get<WorkflowRun>(`${repoPath(expect.verifierRepository)}/actions/runs/${runId}`);
        } catch (error) {
            if (!(error instanceof GitHubApiError && error.status === 404)) throw error;
            run = null;
        }
    }
    return verdictOf(statuses, run, expect);
}

const short = (sha: string) => sha.slice(0, 12);

/**
 * How far back the gate walks through commits without a verdict of their own, and how many
 * commits it judges at most: production's release records (commits that change only
 * `Pulumi.production.yaml`) can land on top of a promotion merge before that push's gate runs,
 * so the commit it checks out is a record whose parent is the merge whose parent is verified.
 */
export const MAX_WALK = 20;
export const MAX_JUDGED = 60;

type Through =
    | { readonly verified: true; readonly via: string[]; readonly status: CommitStatus; readonly difference: string }
    | { readonly verified: false; readonly reasons: string[] };

/** The comparison base...head, or undefined when GitHub has none (404). */
async function comparisonOf(clients: GateClients, repository: string, base: string, head: string): Promise<Comparison | undefined> {
    try {
        return await clients.repository.get<Comparison>(`${repoPath(repository)}/compare/${base}...${head}`);
    } catch (error) {
        if (error instanceof GitHubApiError && error.status === 404) return undefined;
        throw error;
    }
}

/**
 * Whether `commit` (which has no verdict of its own) is verified through a parent: a verified
 * parent whose compare lists only allowed differences; or a parent without a verdict of its own,
 * differing only in allowed files, that is itself verified this way (up to {@link MAX_WALK} deep).
 */
async function throughParents(clients: GateClients, args: GateArgs, expect: Expectation, commit: string, depth: number, budget: { judged: number }): Promise<Through> {
    const data = await clients.repository.get<Commit>(`${repoPath(args.repository)}/commits/${commit}`);
    const reasons: string[] = [];
    for (const { sha: parent } of data.parents ?? []) {
        if (++budget.judged > MAX_JUDGED) {
            reasons.push(`stopped after judging ${MAX_JUDGED} commits`);
            break;
        }
        const verdict = await judgeCommit(clients, args.repository, parent, expect);
        if (verdict.verified) {
            const comparison = await comparisonOf(clients, args.repository, parent, commit);
            const problem = comparison === undefined ? "GitHub has no comparison of the two" : compareProblem(comparison, args.allowedDifferences);
            if (problem !== undefined) {
                reasons.push(`parent ${short(parent)} is verified, but ${problem}`);
                continue;
            }
            const listed = comparison?.files ?? [];
            const difference = listed.length === 0
                ? "the compare lists no changed file"
                : `the compare lists only allowed differences (${[...new Set(listed.map((f) => f.filename))].join(", ")})`;
            return { verified: true, via: [parent], status: verdict.status, difference };
        }
        if (verdict.noStatus && depth < MAX_WALK) {
            // A commit without a verdict that differs only in allowed files (a release record,
            // a merge): what it holds is what its own verified ancestor holds.
            const comparison = await comparisonOf(clients, args.repository, parent, commit);
            if (comparison !== undefined && compareProblem(comparison, args.allowedDifferences) === undefined) {
                const deeper = await throughParents(clients, args, expect, parent, depth + 1, budget);
                if (deeper.verified) return { ...deeper, via: [parent, ...deeper.via] };
                reasons.push(`parent ${short(parent)}: ${verdict.reason} (nor through its parents: ${deeper.reasons.join("; ")})`);
                continue;
            }
        }
        reasons.push(`parent ${short(parent)}: ${verdict.reason}`);
    }
    return { verified: false, reasons };
}

/** Runs the gate against GitHub. */
export async function gate(clients: GateClients, args: GateArgs, serverUrl: string): Promise<GateResult> {
    const expect: Expectation = { ...args, serverUrl };
    const subject = `${args.repository}@${args.commit}`;
    const refuse = (what: string): GateResult => ({ code: 1, message: `staging-gate: ${subject} is not verified: ${what}. Fix: ${FIX}` });
    const by = (status: CommitStatus) => `${STAGING_VERIFICATION_CONTEXT} success by ${status.creator?.login} in ${status.target_url}`;

    const own = await judgeCommit(clients, args.repository, args.commit, expect);
    if (own.verified) return { code: 0, message: `staging-gate: ${subject} is verified: ${by(own.status)}` };
    if (!own.noStatus) return refuse(own.reason);

    const through = await throughParents(clients, args, expect, args.commit, 1, { judged: 0 });
    if (!through.verified) return refuse([own.reason, ...through.reasons].join("; "));
    const path = through.via.length === 1 ? `its parent ${through.via[0]}` : `its ancestors ${through.via.join(" -> ")}`;
    return { code: 0, message: `staging-gate: ${subject} is verified through ${path}: ${by(through.status)}; ${through.difference}` };
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, (a) => {
        const args = parseArgs(a);
        if (!process.env.GH_TOKEN) throw new UsageError(`GH_TOKEN is not set: set it to a token that reads commit statuses and contents of ${args.repository}`);
        return args;
    }, async (args) => {
        const token = process.env.GH_TOKEN!;
        const verifierToken = process.env.VERIFIER_TOKEN || token;
        const apiUrl = apiUrlFrom(process.env);
        const clients: GateClients = {
            repository: new GitHubClient({ token, apiUrl }),
            verifier: new GitHubClient({ token: verifierToken, apiUrl }),
        };
        const clean = (s: string) => redact(redact(s, token), verifierToken);
        try {
            const result = await gate(clients, args, serverUrlFrom(process.env));
            (result.code === 0 ? process.stdout : process.stderr).write(`${clean(result.message)}\n`);
            return result.code;
        } catch (error) {
            if (error instanceof Error) error.message = clean(error.message);
            throw error;
        }
    });
}

runAsScript(module, main);
