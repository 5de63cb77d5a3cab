/**
 * A local stand-in of the GitHub REST endpoints the staging verification tools call
 * (tools/monorepoE2e.ts, tools/stagingGate.ts), on 127.0.0.1 and a random port, answering in the
 * documented shapes (GitHub REST docs, by page title):
 * - "Create a workflow dispatch event": POST /repos/{o}/{r}/actions/workflows/{file}/dispatches,
 *   204 No Content, or with `return_run_details: true` 200 `{workflow_run_id, run_url, html_url}`
 *   (GitHub changelog 2026-02-19, "Workflow dispatch API now returns run IDs") when the stand-in
 *   is told GitHub supports it;
 * - "List workflow runs for a workflow": GET .../actions/workflows/{file}/runs, `{total_count,
 *   workflow_runs}` newest first, filtered by `event`, `branch` and `created` (>=);
 * - "Get a workflow run": GET /repos/{o}/{r}/actions/runs/{id};
 * - "List commit statuses for a reference": GET /repos/{o}/{r}/commits/{ref}/statuses, newest
 *   first ("Statuses are returned in reverse chronological order"), paginated with `Link`;
 * - "Get a commit": GET /repos/{o}/{r}/commits/{ref};
 * - "Compare two commits": GET /repos/{o}/{r}/compare/{base}...{head}.
 * Requests must carry the headers GitHub's docs recommend and a known token (else 400/401 like
 * GitHub); every request is recorded for the specs' assertions.
 */
import * as http from "http";
import { AddressInfo } from "net";

/** Where run pages live in the stand-in's answers (the tools get it as GITHUB_SERVER_URL). */
export const STANDIN_SERVER_URL = "https://github.com";

/** A run as the stand-in keeps it: the GitHub shape plus the statuses it goes through. */
export interface StandinRun {
    id: number;
    repository: string;
    workflow: string;
    branch: string;
    event: string;
    displayTitle: string;
    /** Statuses shown one per GET, the last one repeated (e.g. queued, in_progress, completed). */
    statuses: string[];
    conclusion: string | null;
    createdAt: string;
    gets: number;
    /** List calls that still leave the run out ("List workflow runs" lags behind a dispatch). */
    listDelay?: number;
}

/** How a dispatched workflow behaves. */
export interface WorkflowBehaviour {
    /** Whether GitHub answers `return_run_details` with the run's id (else 204, the old way). */
    readonly returnRunDetails: boolean;
    /** Whether the dispatch starts a run at all (false: it never appears). */
    readonly startsRun: boolean;
    /** List calls before the run shows in "List workflow runs" (0: at once). */
    readonly listDelay?: number;
    /** What the run's `run-name` makes of the inputs (default `E2E <revision> <correlation_id>`). */
    readonly runName?: (inputs: Record<string, string>) => string;
    /** Statuses the run goes through, one per "Get a workflow run". */
    readonly statuses: string[];
    readonly conclusion: string | null;
}

export interface StatusSeed {
    readonly state: string;
    readonly context?: string;
    readonly description?: string;
    readonly targetUrl?: string | null;
    readonly login: string;
}

export interface RecordedRequest {
    readonly method: string;
    readonly path: string;
    readonly query: Record<string, string>;
    readonly body: unknown;
    readonly token: string | undefined;
}

/** A stand-in GitHub. */
export class GitHubStandin {
    readonly requests: RecordedRequest[] = [];
    /** Tokens accepted, by repository (`*`: all repositories). */
    readonly tokens = new Map<string, Set<string>>();
    readonly workflows = new Map<string, WorkflowBehaviour>();
    readonly runs = new Map<number, StandinRun>();
    /** Statuses by `repo@sha`, newest first. */
    readonly statuses = new Map<string, object[]>();
    readonly commits = new Map<string, { parents: string[] }>();
    readonly comparisons = new Map<string, { status: string; files: { filename: string; status: string; previous_filename?: string }[] | undefined }>();
    /** Dispatches that failed on `return_run_details` (GHES without it): 422 once per dispatch. */
    rejectReturnRunDetails = false;
    /** Dispatches answer 422 with a message that quotes the token (to prove the tools mask it). */
    echoTokenInErrors = false;
    private server: http.Server | undefined;
    private nextRunId = 9000;
    private nextStatusId = 1;
    private clock = Date.parse("2026-11-27T08:00:00Z");

    /** The API's base URL (GITHUB_API_URL for the tools). */
    url = "";

    async start(): Promise<this> {
        this.server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (chunk) => (body += chunk));
            req.on("end", () => {
                try {
                    this.handle(req, body, res);
                } catch (error) {
                    this.send(res, 500, { message: `stand-in error: ${(error as Error).message}` });
                }
            });
        });
        await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
        this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
        return this;
    }

    async stop(): Promise<void> {
        await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    }

    /** Accepts `token` for `repository` (or `*`). */
    allow(repository: string, token: string): this {
        if (!this.tokens.has(repository)) this.tokens.set(repository, new Set());
        this.tokens.get(repository)!.add(token);
        return this;
    }

    /** Adds a run directly (a staging deploy's run the gate reads). */
    addRun(run: Partial<StandinRun> & Pick<StandinRun, "repository" | "workflow" | "branch">): StandinRun {
        const full: StandinRun = {
            id: run.id ?? this.nextRunId++, event: "push", displayTitle: "Deploy staging", statuses: ["completed"], conclusion: "success",
            createdAt: this.tick(), gets: 0, ...run,
        };
        this.runs.set(full.id, full);
        return full;
    }

    /** Posts a status on `repository@sha` (it becomes the newest). */
    addStatus(repository: string, sha: string, seed: StatusSeed): this {
        const key = `${repository}@${sha}`;
        const at = this.tick();
        const id = this.nextStatusId++;
        const status = {
            url: `${this.url}/repos/${repository}/statuses/${sha}`,
            avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
            id, node_id: `SC_${id}`, state: seed.state, description: seed.description ?? null,
            target_url: seed.targetUrl === undefined ? null : seed.targetUrl, context: seed.context ?? "staging-verification",
            created_at: at, updated_at: at,
            creator: { login: seed.login, id: 100 + id, type: seed.login.endsWith("[bot]") ? "Bot" : "User", site_admin: false },
        };
        this.statuses.set(key, [status, ...(this.statuses.get(key) ?? [])]);
        return this;
    }

    /** The run page GitHub links a run at. */
    static runUrl(repository: string, id: number): string {
        return `${STANDIN_SERVER_URL}/${repository}/actions/runs/${id}`;
    }

    private tick(): string {
        this.clock += 1000;
        return new Date(this.clock).toISOString().replace(/\.\d{3}Z$/, "Z");
    }

    private send(res: http.ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
        res.writeHead(status, { ...(body === undefined ? {} : { "Content-Type": "application/json; charset=utf-8" }), ...headers });
        res.end(body === undefined ? undefined : JSON.stringify(body));
    }

    private notFound(res: http.ServerResponse): void {
        this.send(res, 404, { message: "Not Found", documentation_url: "https://docs.github.com/rest", status: "404" });
    }

    private runJson(run: StandinRun): object {
        const index = Math.min(run.gets, run.statuses.length - 1);
        const status = run.statuses[index];
        return {
            id: run.id, name: "workflow", node_id: `WFR_${run.id}`, head_branch: run.branch, head_sha: "0".repeat(40),
            path: `.github/workflows/${run.workflow}`, display_title: run.displayTitle, run_number: run.id - 8000, event: run.event,
            status, conclusion: status === "completed" ? run.conclusion : null, workflow_id: 1,
            url: `${this.url}/repos/${run.repository}/actions/runs/${run.id}`, html_url: GitHubStandin.runUrl(run.repository, run.id),
            created_at: run.createdAt, updated_at: run.createdAt, run_attempt: 1,
            repository: { full_name: run.repository, name: run.repository.split("/")[1] },
        };
    }

    private handle(req: http.IncomingMessage, rawBody: string, res: http.ServerResponse): void {
        const url = new URL(req.url ?? "/", this.url);
        const auth = req.headers.authorization;
        const token = auth?.startsWith("Bearer ") ? auth.slice("Bearer ".length) : undefined;
        const body = rawBody ? JSON.parse(rawBody) : undefined;
        this.requests.push({ method: req.method ?? "", path: url.pathname, query: Object.fromEntries(url.searchParams), body, token });

        if (req.headers.accept !== "application/vnd.github+json" || req.headers["x-github-api-version"] !== "2022-11-28") {
            return this.send(res, 400, { message: "stand-in: send Accept: application/vnd.github+json and X-GitHub-Api-Version: 2022-11-28" });
        }
        const match = /^\/repos\/([^/]+)\/([^/]+)(\/.*)$/.exec(url.pathname);
        if (!match) return this.notFound(res);
        const repository = `${decodeURIComponent(match[1])}/${decodeURIComponent(match[2])}`;
        const rest = match[3];
        const allowed = [...(this.tokens.get(repository) ?? []), ...(this.tokens.get("*") ?? [])];
        if (token === undefined || !allowed.includes(token)) {
            return this.send(res, 401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest", status: "401" });
        }

        let m: RegExpExecArray | null;
        if (req.method === "POST" && (m = /^\/actions\/workflows\/([^/]+)\/dispatches$/.exec(rest))) {
            const file = decodeURIComponent(m[1]);
            const behaviour = this.workflows.get(`${repository}/${file}`);
            if (!behaviour) return this.notFound(res);
            if (typeof body?.ref !== "string") return this.send(res, 422, { message: "Invalid request.\n\n\"ref\" wasn't supplied.", status: "422" });
            if (this.echoTokenInErrors) return this.send(res, 422, { message: `Invalid request: credential ${token} may not dispatch`, status: "422" });
            if (body.return_run_details !== undefined && this.rejectReturnRunDetails) {
                return this.send(res, 422, { message: "Invalid request.\n\nNo subschema in \"anyOf\" matched.\n\"return_run_details\" is not a permitted key.", status: "422" });
            }
            const inputs = body.inputs as Record<string, string>;
            let run: StandinRun | undefined;
            if (behaviour.startsRun) {
                run = this.addRun({
                    repository, workflow: file, branch: body.ref, event: "workflow_dispatch",
                    displayTitle: (behaviour.runName ?? ((i) => `E2E ${i.revision} ${i.correlation_id}`))(inputs),
                    statuses: behaviour.statuses, conclusion: behaviour.conclusion, createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
                });
                run.listDelay = behaviour.listDelay ?? 0;
            }
            if (body.return_run_details === true && behaviour.returnRunDetails && run) {
                return this.send(res, 200, {
                    workflow_run_id: run.id, run_url: `${this.url}/repos/${repository}/actions/runs/${run.id}`,
                    html_url: GitHubStandin.runUrl(repository, run.id),
                });
            }
            return this.send(res, 204);
        }
        if (req.method !== "GET") return this.notFound(res);

        if ((m = /^\/actions\/workflows\/([^/]+)\/runs$/.exec(rest))) {
            const file = decodeURIComponent(m[1]);
            const since = url.searchParams.get("created")?.replace(/^>=/, "");
            const runs = [...this.runs.values()].filter((run) => {
                if (run.listDelay && run.listDelay > 0) {
                    run.listDelay--;
                    return false;
                }
                return run.repository === repository && run.workflow === file
                    && (!url.searchParams.get("event") || run.event === url.searchParams.get("event"))
                    && (!url.searchParams.get("branch") || run.branch === url.searchParams.get("branch"))
                    && (!since || Date.parse(run.createdAt) >= Date.parse(since));
            }).reverse();
            return this.send(res, 200, { total_count: runs.length, workflow_runs: runs.map((run) => this.runJson(run)) });
        }
        if ((m = /^\/actions\/runs\/(\d+)$/.exec(rest))) {
            const run = this.runs.get(Number(m[1]));
            if (!run || run.repository !== repository) return this.notFound(res);
            const json = this.runJson(run);
            run.gets++;
            return this.send(res, 200, json);
        }
        if ((m = /^\/commits\/([^/]+)\/statuses$/.exec(rest))) {
            const all = this.statuses.get(`${repository}@${m[1]}`) ?? [];
            const perPage = Number(url.searchParams.get("per_page") ?? 30);
            const page = Number(url.searchParams.get("page") ?? 1);
            const slice = all.slice((page - 1) * perPage, page * perPage);
            const headers: Record<string, string> = {};
            if (page * perPage < all.length) {
                const next = new URL(url);
                next.searchParams.set("page", String(page + 1));
                headers.Link = `<${next}>; rel="next"`;
            }
            return this.send(res, 200, slice, headers);
        }
        if ((m = /^\/commits\/([^/]+)$/.exec(rest))) {
            const commit = this.commits.get(`${repository}@${m[1]}`);
            if (!commit) return this.send(res, 422, { message: `No commit found for SHA: ${m[1]}`, documentation_url: "https://docs.github.com/rest", status: "422" });
            return this.send(res, 200, {
                sha: m[1], node_id: `C_${m[1]}`, url: `${this.url}/repos/${repository}/commits/${m[1]}`,
                html_url: `${STANDIN_SERVER_URL}/${repository}/commit/${m[1]}`,
                commit: { message: "Merge branch 'main' into production", tree: { sha: "f".repeat(40) } },
                parents: commit.parents.map((sha) => ({ sha, url: `${this.url}/repos/${repository}/commits/${sha}`, html_url: `${STANDIN_SERVER_URL}/${repository}/commit/${sha}` })),
                files: [],
            });
        }
        if ((m = /^\/compare\/([0-9a-f]+)\.\.\.([0-9a-f]+)$/.exec(rest))) {
            const comparison = this.comparisons.get(`${repository}@${m[1]}...${m[2]}`);
            if (!comparison) return this.notFound(res);
            return this.send(res, 200, {
                url: `${this.url}/repos/${repository}/compare/${m[1]}...${m[2]}`, html_url: `${STANDIN_SERVER_URL}/${repository}/compare/${m[1]}...${m[2]}`,
                status: comparison.status, ahead_by: 1, behind_by: 0, total_commits: 1, commits: [],
                ...(comparison.files === undefined ? {} : { files: comparison.files.map((f) => ({ sha: "a".repeat(40), additions: 1, deletions: 1, changes: 2, ...f })) }),
            });
        }
        return this.notFound(res);
    }
}
