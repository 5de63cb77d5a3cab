/**
 * A minimal client of GitHub's REST API on Node's own `fetch`: the few calls the staging
 * verification tools make (tools/monorepoE2e.ts, tools/stagingGate.ts), no dependency.
 *
 * Every request sends the headers GitHub's docs recommend ("Getting started with the REST API":
 * `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`, and the token as
 * `Authorization: Bearer <token>`). A failed request throws {@link GitHubApiError}, one line that
 * names the method, the path, the HTTP status and GitHub's own `message`; the token is never part
 * of a message (it is only ever put in the Authorization header, and {@link redact} masks it in
 * anything printed, in case an answer quotes it back).
 */

/** The API's address when GITHUB_API_URL is not set (Actions sets it, also on GHES). */
export const DEFAULT_API_URL = "https://api.github.com";
/** Where runs' web pages live when GITHUB_SERVER_URL is not set (Actions sets it). */
export const DEFAULT_SERVER_URL = "https://github.com";
/** The REST API version the tools were written against ("API Versions" in GitHub's REST docs). */
export const API_VERSION = "2022-11-28";

/** `owner/name`, as GitHub spells repositories (letters, digits, `-`, `_`, `.`). */
export const REPOSITORY = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;

/**
 * The fields the tools read of a workflow run ("Get a workflow run", "List workflow runs for a
 * workflow"). `display_title` is the run's `run-name` when the workflow declares one.
 */
export interface WorkflowRun {
    readonly id: number;
    readonly name?: string | null;
    readonly display_title?: string;
    readonly path: string;
    readonly head_branch: string | null;
    readonly head_sha: string;
    readonly event: string;
    /** queued, in_progress, completed, waiting, requested, pending. */
    readonly status: string | null;
    /** Set when completed: success, failure, cancelled, skipped, timed_out, neutral, stale, action_required, startup_failure. */
    readonly conclusion: string | null;
    readonly html_url: string;
    readonly created_at: string;
    readonly repository?: { readonly full_name: string };
}

/** A commit status ("List commit statuses for a reference"). */
export interface CommitStatus {
    readonly id: number;
    /** error, failure, pending, success. */
    readonly state: string;
    readonly context: string;
    readonly description: string | null;
    readonly target_url: string | null;
    readonly created_at: string;
    readonly creator: { readonly login: string } | null;
}

/** The fields read of a commit ("Get a commit"). */
export interface Commit {
    readonly sha: string;
    readonly parents: readonly { readonly sha: string }[];
}

/** The fields read of a comparison ("Compare two commits"). */
export interface Comparison {
    /** ahead, behind, identical, diverged. */
    readonly status: string;
    readonly ahead_by: number;
    readonly behind_by: number;
    /** At most 300 entries: GitHub lists no more ("Compare two commits", "Working with large comparisons"). */
    readonly files?: readonly { readonly filename: string; readonly status: string; readonly previous_filename?: string }[];
}

/** A request GitHub answered with an error status, or that got no answer. */
export class GitHubApiError extends Error {
    constructor(
        readonly method: string,
        readonly path: string,
        /** The HTTP status, or undefined when no answer came (network error). */
        readonly status: number | undefined,
        /** GitHub's `message` (or the network error's). */
        readonly githubMessage: string,
    ) {
        super(`GitHub API ${method} ${path}: ${status === undefined ? "no answer" : `HTTP ${status}`}: ${githubMessage}${hintFor(status)}`);
        this.name = "GitHubApiError";
    }
}

/** What an error status usually means for these tools' tokens. */
function hintFor(status: number | undefined): string {
    switch (status) {
        case 401: return " (the token is missing, expired or revoked)";
        case 403: return " (the token lacks a permission this call needs, or a rate limit was hit)";
        // GitHub answers 404, not 403, for a private resource the token can't read
        // ("Troubleshooting the REST API": "404 Not Found for an existing resource").
        case 404: return " (it does not exist, or the token can't read it)";
        default: return "";
    }
}

/** An answer: the HTTP status, the parsed JSON body (undefined for 204) and the headers. */
export interface GitHubResponse<T> {
    readonly status: number;
    readonly data: T;
    readonly headers: Headers;
}

export interface GitHubClientOptions {
    /** The token, sent as `Authorization: Bearer`; never printed. */
    readonly token: string;
    /** The API's base address, e.g. https://api.github.com (no trailing slash needed). */
    readonly apiUrl?: string;
}

/** `s` with every occurrence of `secret` masked (secrets shorter than 4 characters are not masked). */
export function redact(s: string, secret: string | undefined): string {
    return secret && secret.length >= 4 ? s.split(secret).join("***") : s;
}

/** `owner` and `name` of an `owner/name` repository. */
export function splitRepository(repository: string): { owner: string; name: string } {
    const [owner, name] = repository.split("/", 2);
    return { owner, name };
}

/** The path `/repos/<owner>/<name>` with each part escaped. */
export function repoPath(repository: string): string {
    const { owner, name } = splitRepository(repository);
    return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
}

/** The next page's URL from a `Link` header ("Using pagination in the REST API"), or undefined. */
export function nextLink(link: string | null): string | undefined {
    for (const part of (link ?? "").split(",")) {
        const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
        if (match) return match[1];
    }
    return undefined;
}

/** A GitHub REST client for one token. */
export class GitHubClient {
    readonly apiUrl: string;
    readonly #token: string;

    constructor(options: GitHubClientOptions) {
        this.apiUrl = (options.apiUrl || DEFAULT_API_URL).replace(/\/+$/, "");
        this.#token = options.token;
    }

    /**
     * Sends one request. `path` starts with `/` (or is a full URL of the same API, as `Link`
     * headers give); `query` values are escaped; `body` is sent as JSON. Throws
     * {@link GitHubApiError} on any status outside 2xx and when no answer comes.
     */
    async request<T>(method: string, path: string, options: { query?: Record<string, string | number>; body?: unknown } = {}): Promise<GitHubResponse<T>> {
        const url = new URL(path.startsWith("http") ? path : `${this.apiUrl}${path}`);
        for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, String(value));
        const shown = `${url.pathname}${url.search}`;
        const headers: Record<string, string> = {
            Accept: "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            Authorization: `Bearer ${this.#token}`,
            // GitHub rejects requests without a User-Agent ("Getting started with the REST API").
            "User-Agent": "pakashop-infra-tools",
        };
        if (options.body !== undefined) headers["Content-Type"] = "application/json";
        let response: Response;
        try {
            response = await fetch(url, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
        } catch (error) {
            const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
            throw new GitHubApiError(method, shown, undefined, redact(String(cause), this.#token));
        }
        const text = await response.text();
        let data: unknown = undefined;
        if (text.length > 0) {
            try {
                data = JSON.parse(text);
            } catch {
                data = text;
            }
        }
        if (!response.ok) {
            const message = typeof data === "object" && data !== null && typeof (data as { message?: unknown }).message === "string"
                ? (data as { message: string }).message
                : (response.statusText || "no message");
            // Validation errors (422) carry the detail in `errors`.
            const errors = typeof data === "object" && data !== null && Array.isArray((data as { errors?: unknown }).errors)
                ? (data as { errors: unknown[] }).errors.map((e) => (typeof e === "string" ? e : (e as { message?: string })?.message ?? JSON.stringify(e))).join("; ")
                : "";
            throw new GitHubApiError(method, shown, response.status, redact(`${message}${errors ? ` (${errors})` : ""}`.replace(/\s+/g, " "), this.#token));
        }
        return { status: response.status, data: data as T, headers: response.headers };
    }

    /** GET `path` and its JSON body. */
    async get<T>(path: string, query?: Record<string, string | number>): Promise<T> {
        return (await this.request<T>("GET", path, { query })).data;
    }

    /**
     * The items of a list endpoint, page by page (100 a page, following `Link: rel="next"`),
     * for at most `maxPages` pages; the caller stops reading (and fetching) when it has found
     * what it looks for.
     */
    async *pages<T>(path: string, query: Record<string, string | number> = {}, maxPages = 10): AsyncGenerator<T> {
        let next: string | undefined = path;
        let first = true;
        for (let page = 0; next !== undefined && page < maxPages; page++) {
            const response: GitHubResponse<T[]> = await this.request<T[]>("GET", next, first ? { query: { ...query, per_page: 100 } } : {});
            first = false;
            for (const item of response.data ?? []) yield item;
            next = nextLink(response.headers.get("link"));
        }
    }
}

/** The API address the tools use: GITHUB_API_URL, else {@link DEFAULT_API_URL}. */
export function apiUrlFrom(env: NodeJS.ProcessEnv): string {
    return env.GITHUB_API_URL || DEFAULT_API_URL;
}

/** The web address runs are linked at: GITHUB_SERVER_URL, else {@link DEFAULT_SERVER_URL}. */
export function serverUrlFrom(env: NodeJS.ProcessEnv): string {
    return (env.GITHUB_SERVER_URL || DEFAULT_SERVER_URL).replace(/\/+$/, "");
}
