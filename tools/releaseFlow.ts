/**
 * The README's release flow diagram, drawn from the deploy workflows themselves: each job of
 * Deploy staging and Deploy production with its environment, the `needs:` edges, the job that
 * records the staging verdict as a commit status (it uses .github/actions/staging-verdict), the jobs that
 * read it before production deploys (they run `npm run -s staging-gate`), and the promotion pull
 * request whose merge the required status gates. A change to a workflow's jobs changes the
 * diagram (`npm run readme`; a test fails while README.md is stale).
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { STAGING_VERIFICATION_CONTEXT } from "./github/statusContext";
import { REPO_ROOT } from "./stackConfig";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface FlowWorkflow {
    /** File under .github/workflows. */
    readonly file: string;
    /** Prefix of its node ids in the diagram. */
    readonly prefix: string;
}

export const FLOW_WORKFLOWS = { staging: { file: "deploy-staging.yml", prefix: "s" }, production: { file: "deploy-production.yml", prefix: "p" } } as const;

const load = (file: string, root: string): Doc => YAML.parse(fs.readFileSync(path.join(root, ".github", "workflows", file), "utf8"));
const needsOf = (job: Doc): string[] => (job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs]);
const environmentOf = (job: Doc): string | undefined => (typeof job.environment === "object" && job.environment !== null ? job.environment.name : job.environment);
const nodeId = (prefix: string, job: string) => `${prefix}_${job.replace(/[^A-Za-z0-9]/g, "_")}`;
/** A job's steps as text (its local composite actions included), to find what it runs. */
function jobText(job: Doc, root: string): string {
    const parts = [JSON.stringify(job)];
    for (const step of (job.steps ?? []) as Doc[]) {
        if (typeof step.uses === "string" && step.uses.startsWith("./.github/actions/")) {
            parts.push(fs.readFileSync(path.join(root, step.uses, "action.yml"), "utf8"));
        }
    }
    return parts.join("\n");
}

/** The mermaid flowchart. */
export function renderReleaseFlow(root = REPO_ROOT): string {
    const lines = ["```mermaid", "flowchart TD"];
    lines.push('  merge_main(["merge to main<br/>(services monorepo: deploy-staging dispatch;<br/>this repository: push)"])');
    const status = "status";
    lines.push(`  ${status}[("commit status ${STAGING_VERIFICATION_CONTEXT}<br/>on the monorepo revision and this repository's commit")]`);
    lines.push(`  promotion{{"pull request main → production<br/>required status: ${STAGING_VERIFICATION_CONTEXT}"}}`);
    const edges: string[] = [];
    for (const [stack, wf] of Object.entries(FLOW_WORKFLOWS)) {
        const doc = load(wf.file, root);
        const jobs = doc.jobs as Record<string, Doc>;
        lines.push(`  subgraph ${stack}_flow["${doc.name} (${wf.file})"]`);
        for (const [id, job] of Object.entries(jobs)) {
            const env = environmentOf(job);
            lines.push(`    ${nodeId(wf.prefix, id)}["${id}${env ? `<br/>environment ${env}` : ""}"]`);
        }
        lines.push("  end");
        for (const [id, job] of Object.entries(jobs)) {
            for (const need of needsOf(job)) edges.push(`  ${nodeId(wf.prefix, need)} --> ${nodeId(wf.prefix, id)}`);
            const text = jobText(job, root);
            if (/\.\/\.github\/actions\/staging-verdict\b/.test(JSON.stringify(job.steps ?? []))) edges.push(`  ${nodeId(wf.prefix, id)} -.->|"posts"| ${status}`);
            if (/npm run -s staging-gate/.test(text)) edges.push(`  ${status} -.->|"read by"| ${nodeId(wf.prefix, id)}`);
            if (needsOf(job).length === 0) {
                // The bypass runs only for a dispatch that gives a reason; a merge never reaches it.
                const bypass = /inputs\.bypass_reason\s*!=\s*''/.test(String(job.if ?? ""));
                const label = bypass ? "emergency: a dispatch with bypass_reason" : "merge, or a dispatch of the revision";
                edges.push(stack === "staging" ? `  merge_main --> ${nodeId(wf.prefix, id)}` : `  promotion -->|"${label}"| ${nodeId(wf.prefix, id)}`);
            }
        }
    }
    edges.push(`  ${status} -.->|"required check"| promotion`);
    lines.push(...edges, "```");
    return lines.join("\n");
}
