/**
 * Renders an offline plan as text (for a terminal), JSON (for machines) or Markdown (for a
 * pull-request comment). Every format redacts secrets to "[secret]" and shows a preview's
 * unknown values as "[unknown]" (`pulumi preview` prints them as `output<string>`).
 */
import { CLOUDFLARE_PLANS, CloudflareRequirements, cloudflareRequirements } from "../components/cloudflarePlans";
import { SERVICES_REPOSITORY_ENV, UNPACKED } from "../components/sources";
import { replaceUnknowns } from "./mocks";
import { isSecretValue, OfflineRun, PlannedResource } from "./offlineRun";
import { Violation } from "./policyCheck";
import { toSarif } from "./sarif";

export const FORMATS = ["text", "json", "markdown", "sarif"] as const;
export type Format = (typeof FORMATS)[number];

/** How the plan shows a value that is unknown until the engine creates what it comes from. */
export const UNKNOWN_SHOWN = "[unknown]";

/** How the plan shows a secret value. */
export const SECRET_SHOWN = "[secret]";

/**
 * Leaf names that hold a credential wherever they appear inside a value marked secret as a
 * whole (an SSH connection: `privateKey`, `password`, a jump host's too).
 */
const SECRET_LEAF = /private.?key|password|passphrase|secret|token|credential|agent.?socket/i;

/**
 * Every string that is a secret of its own (a secret scalar, at any depth, inside a secret
 * object too): what must never be shown, wherever else it appears.
 */
function secretStrings(value: unknown, into: Set<string>): Set<string> {
    if (isSecretValue(value)) {
        const inner = (value as { value: unknown }).value;
        if (typeof inner === "string" && inner.length >= 6) into.add(inner);
        return secretStrings(inner, into);
    }
    if (Array.isArray(value)) value.forEach((v) => secretStrings(v, into));
    else if (typeof value === "object" && value !== null) Object.values(value).forEach((v) => secretStrings(v, into));
    return into;
}

/**
 * Inputs a provider's SDK marks secret as a whole, whatever they hold (`pulumi.secret(...)` in
 * @pulumi/command's constructors): not secrets of their own, so the plan shows them leaf by
 * leaf, and "[unknown]" (not "[secret]") while they are unknown as a whole, as a remote step's
 * `connection` is in a preview (the SDK builds it with an apply over the host's address).
 */
const PROVIDER_SECRET_INPUTS: Readonly<Record<string, readonly string[]>> = {
    "command:remote:Command": ["connection"],
    "command:remote:CopyToRemote": ["connection"],
    "command:remote:CopyFile": ["connection"],
};

/**
 * A value as every format shows it: unknowns "[unknown]", secrets "[secret]". A secret that is
 * a scalar is hidden whole, known or not. A secret that is an object or array (a provider
 * marks a whole input secret, as @pulumi/command does a remote command's `connection`) is
 * shown leaf by leaf, so the policies still see what is not itself a secret (a host, its host key, a user):
 * a leaf is hidden when its name says it holds a credential, when it is a secret of its own,
 * or when it holds (anywhere in it) a string that is secret somewhere else in the plan
 * (`known`, from the stack's secret settings and every scalar secret of the run) or a PEM key;
 * an unknown leaf is "[unknown]". An input a provider marks secret as a whole
 * ({@link PROVIDER_SECRET_INPUTS}, `wholeSecret`) that is unknown as a whole is "[unknown]":
 * it holds no secret yet, and a policy over the saved plan then meets an unknown, as the live
 * preview's does, not a hidden secret.
 */
function shown(value: unknown, known: ReadonlySet<string>, wholeSecret: readonly string[] = []): unknown {
    const visible = (v: unknown, inSecret: boolean, key?: string, top = false): unknown => {
        if (isSecretValue(v)) {
            const inner = (v as { value: unknown }).value;
            if (inner === UNKNOWN_SHOWN && top && key !== undefined && wholeSecret.includes(key)) return UNKNOWN_SHOWN;
            // A secret scalar (or a secret not known yet) is "[secret]" as a whole.
            return typeof inner === "object" && inner !== null ? visible(inner, true, key) : SECRET_SHOWN;
        }
        if (Array.isArray(v)) return v.map((x) => visible(x, inSecret, key));
        if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, visible(x, inSecret, k, !inSecret && key === undefined)]));
        if (!inSecret) return v;
        if (v === UNKNOWN_SHOWN) return v;
        if (key !== undefined && SECRET_LEAF.test(key)) return SECRET_SHOWN;
        if (typeof v === "string" && (/PRIVATE KEY/.test(v) || [...known].some((s) => v.includes(s)))) return SECRET_SHOWN;
        return v;
    };
    return visible(replaceUnknowns(value, UNKNOWN_SHOWN), false);
}

/** The JSON document of `npm run plan -- --format json`. */
export interface PlanDocument {
    readonly project: string;
    readonly stack: string;
    /**
     * `preview`: as `pulumi preview` of a new stack (what providers compute on create is
     * "[unknown]", as are inputs built from it); `applied`: every value known (mock stand-ins).
     */
    readonly mode: "preview" | "applied";
    /** `custom`: a provider's resource (the policies judge these), not a component. */
    readonly resources: { urn: string; type: string; name: string; custom: boolean; parent: string | null; dependsOn: string[]; inputs: unknown }[];
    readonly rollout: {
        readonly waves: string[][];
        /**
         * What the plan could not know because it ran without a clone of the services monorepo
         * (`PAKASHOP_SERVICES_REPO`); empty when it had one.
         */
        readonly unknownWithoutSources: string[];
    };
    readonly outputs: unknown;
    /** Secret settings that were encrypted in the stack file and replaced by offline placeholders. */
    readonly placeholderSecrets: string[];
    /** The policy pack's verdict on this plan. */
    readonly policies: { readonly violations: Violation[] };
    /**
     * What the plan needs of accounts outside it: the Cloudflare plan each zone-level feature
     * needs, and the zone entry-point rulesets it creates (one per zone and phase).
     */
    readonly requirements: { readonly cloudflare: CloudflareRequirements };
}

/**
 * What a plan without a clone of the services monorepo can't know: each release is named by
 * its service folder's content (components/sources.ts), which only the clone has.
 */
export const UNKNOWN_WITHOUT_SOURCES = [
    "which services changed since the last deploy and would be rebuilt and restarted (each release is named by its service folder's git tree; every service shows a placeholder release here)",
    "the checksums of the source tarballs the hosts would receive",
    "whether the revisions are commits of the stack's branch",
];

/** Whether the run planned with placeholder sources: a prepare step says its sources are not packed. */
function unpackedSources(resources: readonly PlannedResource[]): boolean {
    return resources.some((r) => {
        const triggers = r.inputs.triggers;
        return r.name.endsWith("-prepare") && Array.isArray(triggers) && (triggers[0] as { sources?: unknown } | undefined)?.sources === UNPACKED;
    });
}

/** The lines saying what the plan could not know without the monorepo, or none. */
function sourcesNote(doc: PlanDocument): string[] {
    const unknown = doc.rollout.unknownWithoutSources ?? [];
    if (unknown.length === 0) return [];
    return [`Without a clone of the services monorepo (set ${SERVICES_REPOSITORY_ENV} to one that has the stack's branch), this plan could not know:`,
        ...unknown.map((what) => `  - ${what}`)];
}

/**
 * @param secretValues the values of the stack's secret settings: hidden wherever they appear
 *   inside a value shown leaf by leaf (see {@link shown}).
 */
export function planDocument(run: OfflineRun, waves: string[][], violations: Violation[], secretValues: readonly string[] = []): PlanDocument {
    const known = secretStrings([run.resources.map((r) => r.inputs), run.outputs], new Set(secretValues.filter((s) => s.length >= 6)));
    const shown_ = (value: unknown, wholeSecret?: readonly string[]) => shown(value, known, wholeSecret);
    return {
        project: run.project,
        stack: run.stack,
        mode: run.preview ? "preview" : "applied",
        resources: run.resources.map((r) => ({
            urn: r.urn,
            type: r.type,
            name: r.name,
            custom: r.custom,
            parent: r.parent,
            dependsOn: r.dependsOn,
            inputs: shown_(r.inputs, PROVIDER_SECRET_INPUTS[r.type]),
        })),
        rollout: { waves, unknownWithoutSources: unpackedSources(run.resources) ? UNKNOWN_WITHOUT_SOURCES : [] },
        outputs: shown_(run.outputs),
        placeholderSecrets: run.placeholderSecrets,
        policies: { violations },
        requirements: { cloudflare: cloudflareRequirements(run.resources) },
    };
}

/** The requirements as lines: the zone's minimum Cloudflare plan, each feature, each entry point. */
function requirementLines(doc: PlanDocument, bullet: (text: string) => string, code: (text: string) => string): string[] {
    const cf = doc.requirements.cloudflare;
    if (cf.features.length === 0 && cf.zoneEntrypoints.length === 0) return [bullet("none: this stack creates no zone-level Cloudflare feature.")];
    return [
        bullet(`Cloudflare plan the zone needs: at least ${cf.minimumPlan} (plans: ${CLOUDFLARE_PLANS.join(" < ")}).`),
        ...cf.features.map((f) => bullet(`${f.minimumPlan}: ${code(f.resource)} uses ${f.feature} (${f.source})`)),
        ...cf.zoneEntrypoints.map((e) => bullet(`${code(e.resource)} is the zone's ${code(e.phase)} entry point (one per zone); if the zone has one already, ${e.ifOneExists}`)),
    ];
}

const SEVERITIES = ["critical", "high", "medium", "low"] as const;

/** One line: how many violations, how many block the deploy. */
export function policySummary(doc: PlanDocument): string {
    const all = doc.policies.violations;
    const mandatory = all.filter((v) => v.enforcementLevel === "mandatory").length;
    return all.length === 0 ? "Policies: 0 violations."
        : `Policies: ${all.length} violation${all.length === 1 ? "" : "s"}, ${mandatory} mandatory (${mandatory > 0 ? "blocks the deploy" : "advisory only"}).`;
}

function placeholderNote(doc: PlanDocument): string {
    return doc.placeholderSecrets.length === 0
        ? ""
        : `Placeholder secrets (encrypted in Pulumi.${doc.stack}.yaml, not decryptable offline): ${doc.placeholderSecrets.join(", ")}`;
}

/** Children of each parent URN, in registration order. */
function childrenByParent(resources: readonly PlannedResource[] | PlanDocument["resources"]): Map<string | null, PlanDocument["resources"]> {
    const children = new Map<string | null, PlanDocument["resources"]>();
    for (const r of resources) {
        const list = children.get(r.parent) ?? [];
        list.push(r as PlanDocument["resources"][number]);
        children.set(r.parent, list);
    }
    return children;
}

function roots(doc: PlanDocument): PlanDocument["resources"] {
    const urns = new Set(doc.resources.map((r) => r.urn));
    return doc.resources.filter((r) => r.parent === null || !urns.has(r.parent));
}

const shortName = (urn: string) => (urn.includes("::") ? urn.slice(urn.lastIndexOf("::") + 2) : urn);

export function formatText(doc: PlanDocument): string {
    const children = childrenByParent(doc.resources);
    const lines = [`${doc.project} / ${doc.stack}: ${doc.resources.length} resources (offline plan under mocks; no cloud contacted; ${doc.mode === "preview"
        ? `as a preview of a new stack: ${UNKNOWN_SHOWN} is known only once created` : "as applied: every value known, computed ones are mock stand-ins"})`];
    const note = placeholderNote(doc);
    if (note) lines.push(note);
    lines.push("");
    const walk = (r: PlanDocument["resources"][number], depth: number) => {
        const deps = r.dependsOn.length ? `  <- ${r.dependsOn.map(shortName).join(", ")}` : "";
        lines.push(`${"  ".repeat(depth)}${r.type}  ${r.name}${deps}`);
        for (const child of children.get(r.urn) ?? []) walk(child, depth + 1);
    };
    for (const r of roots(doc)) walk(r, 0);
    lines.push("", "Rollout waves (seed section 3.2; each wave starts when the one before is healthy):");
    doc.rollout.waves.forEach((wave, i) => lines.push(`  ${i + 1}. ${wave.join(", ")}`));
    const sources = sourcesNote(doc);
    if (sources.length) lines.push("", ...sources);
    lines.push("", policySummary(doc));
    for (const v of doc.policies.violations) lines.push(`  [${v.enforcementLevel}, ${v.severity}] ${v.policy}: ${shortName(v.urn || "stack")}: ${v.message}`);
    lines.push("", "Requirements (what the stack needs of the Cloudflare zone):", ...requirementLines(doc, (t) => `  - ${t}`, (t) => t));
    lines.push("", "Outputs:");
    for (const [key, value] of Object.entries(doc.outputs as Record<string, unknown>)) {
        lines.push(`  ${key} = ${JSON.stringify(value)}`);
    }
    return `${lines.join("\n")}\n`;
}

export function formatMarkdown(doc: PlanDocument): string {
    const children = childrenByParent(doc.resources);
    const lines = [`### Plan for \`${doc.stack}\`: ${doc.resources.length} resources`, "", `**${policySummary(doc)}**`, ""];
    for (const severity of SEVERITIES) {
        const group = doc.policies.violations.filter((v) => v.severity === severity);
        if (group.length === 0) continue;
        lines.push(`#### ${severity} (${group.length})`, "", "| policy | level | resource | message |", "|---|---|---|---|");
        for (const v of group) lines.push(`| \`${v.policy}\` | ${v.enforcementLevel} | ${shortName(v.urn || "stack")} | ${v.message.replace(/\|/g, "\\|")} |`);
        lines.push("");
    }
    const note = placeholderNote(doc);
    if (note) lines.push(`> ${note}`, "");
    lines.push("**Requirements** (what the stack needs of the Cloudflare zone)", "", ...requirementLines(doc, (t) => `- ${t}`, (t) => `\`${t}\``), "");
    lines.push("**Rollout waves** (seed section 3.2)", "");
    doc.rollout.waves.forEach((wave, i) => lines.push(`${i + 1}. ${wave.map((s) => `\`${s}\``).join(", ")}`));
    const sources = sourcesNote(doc);
    if (sources.length) lines.push("", `> ${sources[0]}`, ...sources.slice(1).map((line) => `> ${line.trim()}`));
    const components = doc.resources.filter((r) => (children.get(r.urn) ?? []).some((c) => !(children.get(c.urn) ?? []).length));
    for (const component of components) {
        const leaves = (children.get(component.urn) ?? []).filter((c) => !(children.get(c.urn) ?? []).length);
        lines.push("", `<details><summary><code>${component.type}</code> ${component.name} (${leaves.length})</summary>`, "",
            "| type | name | depends on |", "|---|---|---|");
        for (const leaf of leaves) {
            lines.push(`| \`${leaf.type}\` | ${leaf.name} | ${leaf.dependsOn.map(shortName).join(", ")} |`);
        }
        lines.push("", "</details>");
    }
    return `${lines.join("\n")}\n`;
}

export function formatPlan(doc: PlanDocument, format: Format): string {
    switch (format) {
        case "json":
            return `${JSON.stringify(doc, null, 2)}\n`;
        case "sarif":
            return `${JSON.stringify(toSarif(doc.stack, doc.policies.violations), null, 2)}\n`;
        case "markdown":
            return formatMarkdown(doc);
        case "text":
            return formatText(doc);
    }
}
