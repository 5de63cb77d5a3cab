/**
 * GitHub OIDC trust: what a role's trust policy must require of GitHub's token. Exactly one
 * repository and one GitHub environment per subject, by `StringEquals`: a `StringLike` or a
 * wildcard lets any branch, pull request or fork workflow of the repository (or any repository)
 * assume the role. Subject format: GitHub docs, "About security hardening with OpenID Connect",
 * example subject claims (`repo:<owner>/<name>:environment:<env>`).
 */
import { GITHUB_OIDC_AUDIENCE, GITHUB_OIDC_HOST } from "../components/githubAccess";
import { Props } from "./policyKit";

const SUBJECT = /^repo:([A-Za-z0-9-]+\/[A-Za-z0-9._-]+):environment:([A-Za-z0-9._-]+)$/;
const AUD_KEY = `${GITHUB_OIDC_HOST}:aud`;
const SUB_KEY = `${GITHUB_OIDC_HOST}:sub`;

const list = (value: unknown): unknown[] => (value === undefined || value === null ? [] : [value].flat());

/** Whether an action pattern (IAM wildcards) covers sts:AssumeRoleWithWebIdentity. */
function coversWebIdentity(action: unknown): boolean {
    const pattern = new RegExp(`^${String(action).replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
    return pattern.test("sts:AssumeRoleWithWebIdentity");
}

/** The condition's values for `key` under `operator`, keys compared as IAM does (case-insensitively). */
function valuesOf(condition: Props, operator: string, key: string): unknown[] | undefined {
    const block = condition[operator];
    if (typeof block !== "object" || block === null) return undefined;
    const found = Object.keys(block).find((k) => k.toLowerCase() === key);
    return found === undefined ? undefined : list(block[found]);
}

/** The problems of a trust policy (a JSON string or a document), for every statement trusting GitHub's tokens. */
export function githubTrustProblems(document: unknown, repository?: string, environments?: readonly string[]): string[] {
    let policy: Props;
    try {
        policy = (typeof document === "string" ? JSON.parse(document) : document) as Props;
    } catch {
        return ["assumeRolePolicy is not valid JSON; write it with githubTrustPolicy()."];
    }
    const problems: string[] = [];
    list(policy?.Statement).forEach((s, i) => {
        const statement = s as Props;
        if (statement.Effect !== "Allow") return;
        const federated = typeof statement.Principal === "object" && statement.Principal !== null ? list(statement.Principal.Federated) : list(statement.Principal);
        // Granted by Action, or implicitly by NotAction (everything not listed) or a statement with neither.
        const grantsWebIdentity = "NotAction" in statement ? !list(statement.NotAction).some(coversWebIdentity)
            : !("Action" in statement) || list(statement.Action).some(coversWebIdentity);
        const githubPrincipal = federated.some((f) => String(f).includes(GITHUB_OIDC_HOST));
        if (!grantsWebIdentity && !githubPrincipal) return;
        const condition = (typeof statement.Condition === "object" && statement.Condition !== null ? statement.Condition : {}) as Props;
        const githubKeys = Object.entries(condition).flatMap(([operator, block]) =>
            Object.keys(typeof block === "object" && block !== null ? block : {}).filter((k) => k.toLowerCase().startsWith(`${GITHUB_OIDC_HOST}:`)).map((k) => [operator, k]));
        const trustsGithub = githubPrincipal || federated.some((f) => String(f) === "*") || githubKeys.length > 0;
        if (!trustsGithub) return;
        const at = `Statement[${i}]`;
        for (const [operator, key] of githubKeys) {
            if (operator !== "StringEquals") problems.push(`${at} tests ${key} with ${operator}; test GitHub's claims with StringEquals only (no StringLike, no IgnoreCase, no set operators).`);
        }
        const aud = valuesOf(condition, "StringEquals", AUD_KEY);
        if (!aud || aud.length === 0 || aud.some((v) => v !== GITHUB_OIDC_AUDIENCE)) {
            problems.push(`${at} requires aud ${JSON.stringify(aud ?? null)}; require StringEquals ${AUD_KEY} = "${GITHUB_OIDC_AUDIENCE}".`);
        }
        const subjects = valuesOf(condition, "StringEquals", SUB_KEY);
        if (!subjects || subjects.length === 0) {
            problems.push(`${at} does not require a subject; require StringEquals ${SUB_KEY} = "repo:<owner>/<name>:environment:<env>".`);
            return;
        }
        for (const subject of subjects) {
            const match = typeof subject === "string" ? SUBJECT.exec(subject) : null;
            if (!match || /[*?]/.test(String(subject))) {
                problems.push(`${at} admits subject ${JSON.stringify(subject)}; name exactly one repository and environment: "repo:<owner>/<name>:environment:<env>", no wildcards.`);
            } else if (repository !== undefined && match[1] !== repository) {
                problems.push(`${at} admits subject ${subject} of repository ${match[1]}; only ${repository} may assume this stack's roles.`);
            } else if (environments !== undefined && !environments.includes(match[2])) {
                problems.push(`${at} admits subject ${subject} for environment ${match[2]}; this stack's environments are ${environments.join(", ")}.`);
            }
        }
    });
    return problems;
}
