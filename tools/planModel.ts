/**
 * Reads the rollout back out of a planned program: the tiers the switch restarts, in order.
 * Tests and the plan use this, so what they report is what the program asks the host to do,
 * not what the catalog says it should.
 */
import { readSwitchPlan } from "../host/switch/switchScript";
import { UNKNOWN_VALUE } from "./mocks";
import { OfflineRun, PlannedResource } from "./offlineRun";
import { PlanDocument, SECRET_SHOWN, UNKNOWN_SHOWN } from "./planFormat";
import { HIDDEN_SECRET } from "./policyCheck";

const REMOTE_COMMAND = "command:remote:Command";

/**
 * The waves a planned program's switch restarts, read back from the plan its script carries
 * (host/switch/switchScript.ts): service ids per tier, in the order the host switches them.
 * Empty when the program declares no switch (first-deploy mode).
 */
export function switchWaves(resources: readonly PlannedResource[]): string[][] {
    const step = resources.find((r) => r.type === REMOTE_COMMAND && r.name.endsWith("-switch") && typeof r.inputs.create === "string");
    const plan = step ? readSwitchPlan(String(step.inputs.create)) : undefined;
    return plan ? plan.tiers.map((tier) => Object.keys(tier.services)) : [];
}

/**
 * A plan written by `npm run plan -- --format json`, read back for `npm run policy -- --plan`
 * (tools/policy.ts): every field the policies or the formats use is checked, and the first
 * one out of shape is named (`resources[3].inputs: must be an object`).
 */
export class PlanFileError extends Error {}

type Json = unknown;

function shapeError(where: string, what: string): never {
    throw new PlanFileError(`${where}: ${what}`);
}

const isObject = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);

function stringField(v: Record<string, Json>, key: string, where: string, nullable = false): string | null {
    const value = v[key];
    if (typeof value === "string" && value.length > 0) return value;
    if (nullable && value === null) return null;
    return shapeError(`${where}.${key}`, value === undefined ? "missing" : `must be a non-empty string${nullable ? " or null" : ""}`);
}

function stringArray(value: Json, where: string): string[] {
    if (!Array.isArray(value) || !value.every((s) => typeof s === "string")) return shapeError(where, value === undefined ? "missing" : "must be an array of strings");
    return value as string[];
}

function objectField(v: Record<string, Json>, key: string, where: string): Record<string, Json> {
    const value = v[key];
    return isObject(value) ? value : shapeError(`${where}.${key}`, value === undefined ? "missing" : "must be an object");
}

/** Checks the shape of a parsed plan document; returns it typed, or throws {@link PlanFileError}. */
export function checkPlanShape<D>(doc: Json): D {
    if (!isObject(doc)) return shapeError("the document", "must be a JSON object (the output of npm run plan -- --format json)");
    stringField(doc, "project", "plan");
    stringField(doc, "stack", "plan");
    if (doc.mode !== "preview" && doc.mode !== "applied") shapeError("plan.mode", `must be "preview" or "applied", not ${JSON.stringify(doc.mode)}`);
    if (!Array.isArray(doc.resources)) shapeError("plan.resources", doc.resources === undefined ? "missing" : "must be an array");
    const urns = new Set<string>();
    (doc.resources as Json[]).forEach((r, i) => {
        const where = `plan.resources[${i}]`;
        if (!isObject(r)) return shapeError(where, "must be an object");
        const urn = stringField(r, "urn", where) as string;
        if (!/^urn:pulumi:[^:]+::[^:]+::.+::.+$/.test(urn)) shapeError(`${where}.urn`, `not a Pulumi URN: ${JSON.stringify(urn)}`);
        if (urns.has(urn)) shapeError(`${where}.urn`, `${urn} appears twice`);
        urns.add(urn);
        stringField(r, "type", where);
        stringField(r, "name", where);
        if (typeof r.custom !== "boolean") shapeError(`${where}.custom`, r.custom === undefined ? "missing (a plan written before npm run plan recorded it; write the plan again)" : "must be true or false");
        stringField(r, "parent", where, true);
        stringArray(r.dependsOn, `${where}.dependsOn`);
        objectField(r, "inputs", where);
    });
    objectField(doc, "outputs", "plan");
    stringArray(doc.placeholderSecrets, "plan.placeholderSecrets");
    const rollout = objectField(doc, "rollout", "plan");
    if (!Array.isArray(rollout.waves)) shapeError("plan.rollout.waves", "must be an array");
    (rollout.waves as Json[]).forEach((w, i) => stringArray(w, `plan.rollout.waves[${i}]`));
    const policies = objectField(doc, "policies", "plan");
    if (!Array.isArray(policies.violations)) shapeError("plan.policies.violations", "must be an array");
    const requirements = objectField(doc, "requirements", "plan");
    const cloudflare = objectField(requirements, "cloudflare", "plan.requirements");
    if (!Array.isArray(cloudflare.features) || !Array.isArray(cloudflare.zoneEntrypoints)) shapeError("plan.requirements.cloudflare", "must have features and zoneEntrypoints arrays");
    return doc as D;
}

/** A saved plan's value as the program had it: "[unknown]" unknown again, "[secret]" a hidden secret. */
function asPlanned(value: unknown): unknown {
    if (value === UNKNOWN_SHOWN) return UNKNOWN_VALUE;
    if (value === SECRET_SHOWN) return HIDDEN_SECRET;
    if (Array.isArray(value)) return value.map(asPlanned);
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asPlanned(v)]));
    return value;
}

/**
 * A saved plan as the offline run it was written from, for the policy check: what the plan
 * shows as "[unknown]" is unknown again (the policies meet it as in the preview), and what it
 * shows as "[secret]" is {@link HIDDEN_SECRET} (tools/policyCheck.ts: touched, it makes the
 * policy advisory "can't run over the saved plan", as an unknown does). A value that really is
 * the string "[unknown]" or "[secret]" is read the same way.
 */
export function savedPlanRun(doc: PlanDocument): OfflineRun {
    return {
        project: doc.project,
        stack: doc.stack,
        preview: doc.mode === "preview",
        resources: doc.resources.map((r) => ({
            urn: r.urn, type: r.type, name: r.name, custom: r.custom, parent: r.parent, dependsOn: [...r.dependsOn],
            inputs: asPlanned(r.inputs) as Record<string, unknown>,
        })),
        outputs: asPlanned(doc.outputs) as Record<string, unknown>,
        placeholderSecrets: [...doc.placeholderSecrets],
    };
}
