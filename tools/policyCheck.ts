/**
 * Runs the policy pack over an offline plan, without the Pulumi engine or a cloud account.
 * Policies get their arguments built the way @pulumi/policy builds them: props as plain values
 * (secrets unwrapped), `isType`/`asType` by type token, `getConfig` merging the policy's schema
 * defaults with the stack's pack config, `notApplicable`, and for stack policies every resource
 * with its parent and dependencies, the stack itself (`pulumi:pulumi:Stack`, its outputs as
 * props) included.
 *
 * Unknowns as in `pulumi preview`: the engine marshals an unknown value to the analyzer as a
 * sentinel string (`UnknownStringValue`, pulumi `sdk/go/common/resource/plugin/rpc.go`), and
 * @pulumi/policy wraps props in `unknownCheckingProxy`: touching a sentinel throws
 * `UnknownValueError`, and the policy is then reported as one advisory "can't run policy ...
 * during preview" (server.js, for resource and stack policies alike). This check uses that
 * same proxy and reports the same way. Where this can still differ from `pulumi preview`: see
 * README.
 *
 * Secrets hidden in a saved plan (`npm run policy -- --plan FILE`, tools/policy.ts): a value
 * the plan shows as "[secret]" is one the policies cannot see, so it is handled as
 * @pulumi/policy handles a value it cannot see: touching it throws (a {@link HiddenSecretError},
 * an `UnknownValueError`), and the policy is reported as one advisory that it could not be
 * judged over the saved plan, never as a pass or a violation.
 */
import * as fs from "fs";
import * as path from "path";
import {
    EnforcementLevel, Policies, PolicyPackConfig, PolicyResource, ResourceValidationPolicy, Severity, StackValidationPolicy,
    unknownCheckingProxy, UnknownValueError,
} from "@pulumi/policy";
import { ALL_POLICIES } from "../policy/policies";
import { mockId, replaceUnknowns, UNKNOWN_VALUE } from "./mocks";
import { OfflineRun, PlannedResource, unwrapSecrets } from "./offlineRun";
import { REPO_ROOT } from "./stackConfig";

/** One reported violation. */
export interface Violation {
    readonly policy: string;
    readonly enforcementLevel: EnforcementLevel;
    readonly severity: Severity;
    readonly urn: string;
    readonly message: string;
}

/** Exit code of `pulumi preview` when a mandatory policy is violated; the plan uses it too. */
export const POLICY_VIOLATION_EXIT_CODE = 5;

/** The plan's exit code for these violations: 5 when any mandatory one is among them. */
export function exitCodeFor(violations: readonly Violation[]): number {
    return violations.some((v) => v.enforcementLevel === "mandatory") ? POLICY_VIOLATION_EXIT_CODE : 0;
}

/** The stack's pack config (`policy/<stack>.json`), or none. */
export function loadPackConfig(stack: string, root = REPO_ROOT): PolicyPackConfig {
    const file = path.join(root, "policy", `${stack}.json`);
    return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as PolicyPackConfig) : {};
}

class NotApplicable extends Error {}

/** A secret hidden in a saved plan, as the policies get it in its place (see {@link HiddenSecretError}). */
export const HIDDEN_SECRET: unique symbol = Symbol("[secret]");

/**
 * Thrown when a policy touches a value hidden as "[secret]" in a saved plan. An
 * `UnknownValueError`, so the pack's own preview handling (policy/policyKit.ts) and the check
 * below treat it as they treat an unknown: reported as "can't run", never judged.
 */
/** @pulumi/policy's sentinel of an unknown string (proxy.js), for UnknownValueError's constructor. */
const UNKNOWN_STRING_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export class HiddenSecretError extends UnknownValueError {
    constructor(readonly path: (string | symbol)[]) {
        super(UNKNOWN_STRING_SENTINEL, path as string[]);
        (this as unknown as Error).message = `value at .${path.map(String).join(".")} is a secret, hidden in the saved plan`;
    }
}

/**
 * Wraps props (already in @pulumi/policy's \`unknownCheckingProxy\`) so that touching a
 * {@link HIDDEN_SECRET} throws {@link HiddenSecretError}, at any depth. Live runs have no
 * hidden secret, so this changes nothing for them.
 */
function hiddenSecretCheckingProxy<T>(target: T, path: (string | symbol)[] = []): T {
    if (!(target instanceof Object)) return target;
    return new Proxy(target as unknown as object, {
        get: (obj, prop) => {
            const field = (obj as Record<string | symbol, unknown>)[prop];
            if (field === HIDDEN_SECRET) throw new HiddenSecretError([...path, prop]);
            const desc = Object.getOwnPropertyDescriptor(obj, prop);
            if (desc && "value" in desc && desc.configurable === false && desc.writable === false) return field;
            return typeof prop === "symbol" ? field : hiddenSecretCheckingProxy(field, [...path, prop]);
        },
    }) as T;
}

/** The pack as @pulumi/policy names it in messages: `<name>@v<version of policy/package.json>`. */
const POLICY_PACK = `pakashop-infra@v${(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "policy", "package.json"), "utf8")) as { version: string }).version}`;

/** What @pulumi/policy reports (advisory) for a policy that touched an unknown value. */
export function previewMessage(policy: string, error: UnknownValueError): string {
    if (error instanceof HiddenSecretError) return `can't run policy '${policy}' from policy pack '${POLICY_PACK}' over the saved plan: ${(error as unknown as Error).message}`;
    return `can't run policy '${policy}' from policy pack '${POLICY_PACK}' during preview: ${error.message}`;
}

/**
 * Props as the analyzer gets them: secrets unwrapped, unknowns as the engine's sentinel, and
 * every access checked by @pulumi/policy's own `unknownCheckingProxy`.
 */
function analyzerProps(values: Record<string, unknown>): Record<string, unknown> {
    return hiddenSecretCheckingProxy(unknownCheckingProxy(unwrapSecrets(replaceUnknowns(values, UNKNOWN_VALUE)) as Record<string, unknown>));
}

type AnyPolicy = ResourceValidationPolicy | StackValidationPolicy;
type ResourceClass = { __pulumiType?: string };

function enforcementOf(policy: AnyPolicy, config: PolicyPackConfig): EnforcementLevel {
    const entry = config[policy.name];
    if (typeof entry === "string") return entry;
    return entry?.enforcementLevel ?? policy.enforcementLevel ?? "advisory";
}

/** Schema defaults, overridden by the pack config's values (as the engine does). */
function configOf(policy: AnyPolicy, config: PolicyPackConfig): Record<string, unknown> {
    const defaults = Object.fromEntries(Object.entries(policy.configSchema?.properties ?? {})
        .filter(([, schema]) => (schema as { default?: unknown }).default !== undefined)
        .map(([key, schema]) => [key, (schema as { default?: unknown }).default]));
    const entry = config[policy.name];
    const values = typeof entry === "object" ? Object.fromEntries(Object.entries(entry).filter(([k]) => k !== "enforcementLevel")) : {};
    return { ...defaults, ...values };
}

const typeChecks = (type: string, props: Record<string, unknown>) => ({
    isType: (cls: ResourceClass) => cls.__pulumiType === type,
    asType: (cls: ResourceClass) => (cls.__pulumiType === type ? props : undefined),
});

/**
 * The root stack resource as AnalyzeStack gets it: its outputs as props (pulumi
 * `pkg/resource/deploy/step_generator.go` AnalyzeResources sends every resource's outputs, the
 * stack's included; `deployment_executor.go` finalizes the stack outputs just before).
 */
function stackResource(run: OfflineRun): PlannedResource {
    const name = `${run.project}-${run.stack}`;
    return {
        urn: `urn:pulumi:${run.stack}::${run.project}::pulumi:pulumi:Stack::${name}`,
        type: "pulumi:pulumi:Stack", name, custom: false, parent: null, dependsOn: [], inputs: run.outputs,
    };
}

/** The stack's resources as @pulumi/policy's PolicyResource, parents and dependencies linked. */
function policyResources(resources: readonly PlannedResource[]): PolicyResource[] {
    const byUrn = new Map<string, PolicyResource & { dependencies: PolicyResource[] }>();
    for (const r of resources) {
        const props = analyzerProps(r.inputs);
        byUrn.set(r.urn, {
            type: r.type, props, urn: r.urn, name: r.name,
            opts: { protect: false, ignoreChanges: [], deleteBeforeReplace: undefined, aliases: [], additionalSecretOutputs: [], customTimeouts: {} } as unknown as PolicyResource["opts"],
            dependencies: [], propertyDependencies: {},
            ...typeChecks(r.type, props),
        } as unknown as PolicyResource & { dependencies: PolicyResource[] });
    }
    const byId = new Map<string, PolicyResource[]>();
    for (const r of resources.filter((x) => x.custom)) byId.set(mockId(r.name), [...(byId.get(mockId(r.name)) ?? []), byUrn.get(r.urn) as PolicyResource]);
    for (const r of resources) {
        const resource = byUrn.get(r.urn) as PolicyResource & { dependencies: PolicyResource[]; parent?: PolicyResource };
        if (r.parent && byUrn.has(r.parent)) resource.parent = byUrn.get(r.parent);
        resource.dependencies.push(...r.dependsOn.map((urn) => byUrn.get(urn)).filter((d): d is PolicyResource => d !== undefined));
        Object.assign(resource.propertyDependencies, propertyDependenciesOf(r, byId));
    }
    return [...byUrn.values()];
}

/**
 * The property dependencies the engine gives policies (each input's resources: the ones whose
 * outputs it was built from), as far as an offline run shows them: an input holding, at any
 * depth, the id a resource of the run was given ({@link mockId}; applied runs and plans) depends
 * on that resource. Ids unknown in a preview tie nothing here (the engine would still tie them).
 */
function propertyDependenciesOf(r: PlannedResource, byId: ReadonlyMap<string, PolicyResource[]>): Record<string, PolicyResource[]> {
    const strings = (value: unknown): string[] => (typeof value === "string" ? [value] : Array.isArray(value) ? value.flatMap(strings)
        : typeof value === "object" && value !== null ? Object.values(value).flatMap(strings) : []);
    const entries = Object.entries(unwrapSecrets(r.inputs) as Record<string, unknown>)
        .map(([key, value]) => [key, [...new Set(strings(value).flatMap((s) => byId.get(s) ?? []))].filter((d) => d.urn !== r.urn)] as const)
        .filter(([, dependencies]) => dependencies.length > 0);
    return Object.fromEntries(entries);
}

function validators(policy: ResourceValidationPolicy) {
    const v = policy.validateResource;
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Evaluates every policy over the plan; resolves to the violations in policy order. */
export async function checkPolicies(run: OfflineRun, packConfig: PolicyPackConfig, policies: Policies = ALL_POLICIES): Promise<Violation[]> {
    const planned = run.resources.some((r) => r.type === "pulumi:pulumi:Stack") ? run.resources : [stackResource(run), ...run.resources];
    const resources = policyResources(planned);
    const custom = resources.filter((r) => run.resources.find((p) => p.urn === r.urn)?.custom);
    const violations: Violation[] = [];
    for (const policy of policies) {
        const enforcementLevel = enforcementOf(policy, packConfig);
        if (enforcementLevel === "disabled") continue;
        const config = configOf(policy, packConfig);
        const record = (fallbackUrn: string) => (message: string, urn?: string) =>
            violations.push({ policy: policy.name, enforcementLevel, severity: policy.severity ?? "medium", urn: urn ?? fallbackUrn, message });
        const notApplicable = (reason?: string): never => {
            throw new NotApplicable(reason);
        };
        // As @pulumi/policy's server.js: violations reported before an unknown was touched
        // stand; the unknown adds one advisory, whatever the policy's own level.
        const guarded = async (urn: string, validation: () => Promise<void> | void) => {
            try {
                await validation();
            } catch (error) {
                if (error instanceof UnknownValueError) {
                    violations.push({ policy: policy.name, enforcementLevel: "advisory", severity: policy.severity ?? "medium", urn, message: previewMessage(policy.name, error) });
                } else if (!(error instanceof NotApplicable)) {
                    throw error;
                }
            }
        };
        if ("validateStack" in policy && policy.validateStack) {
            const validateStack = policy.validateStack;
            await guarded("", () => validateStack({ resources, stackTags: new Map(), getConfig: <T>() => config as T, notApplicable }, record("")));
        } else if ("validateResource" in policy) {
            for (const resource of custom) {
                for (const validate of validators(policy)) {
                    await guarded(resource.urn, () => validate({
                        type: resource.type, props: resource.props, urn: resource.urn, name: resource.name, opts: resource.opts,
                        stackTags: new Map(), getConfig: <T>() => config as T, notApplicable, ...typeChecks(resource.type, resource.props),
                    } as Parameters<typeof validate>[0], record(resource.urn)));
                }
            }
        }
    }
    return violations;
}

/** The pack's policies with their level for a stack (for the README and SARIF rules). */
export function policyLevels(packConfig: PolicyPackConfig, policies: Policies = ALL_POLICIES) {
    return policies.map((p) => ({ name: p.name, description: p.description, severity: p.severity ?? "medium", enforcementLevel: enforcementOf(p, packConfig), remediationSteps: p.remediationSteps ?? "" }));
}
