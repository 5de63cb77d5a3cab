/**
 * Runs the real program (`index.ts`) for one stack under Pulumi's mocks and returns what it
 * asked for: every resource with its parent, its `dependsOn` (read from the program through a
 * stack transformation, not from the catalog), its inputs, and the stack outputs.
 */
import { FIRST_DEPLOY_ENV } from "../components/firstDeployMode";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { allowPlaceholderSources, SERVICES_REPOSITORY_ENV } from "../components/sources";
import { RecordingMocks, Registration, ResourceHook } from "./mocks";
import { REPO_ROOT, StackConfig } from "./stackConfig";

/** A resource in the plan. Secrets inside `inputs` are still wrapped; see {@link redactSecrets}. */
export interface PlannedResource {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    readonly parent: string | null;
    readonly dependsOn: string[];
    readonly inputs: Record<string, unknown>;
}

export interface OfflineRun {
    readonly project: string;
    readonly stack: string;
    /** Whether the run was a preview of a fresh stack (outputs a provider computes on create unknown). */
    readonly preview?: boolean;
    readonly resources: PlannedResource[];
    readonly outputs: Record<string, unknown>;
    readonly placeholderSecrets: string[];
}

export interface OfflineRunOptions {
    /** Lets the real-host e2e execute resources (remote commands) instead of faking them. */
    readonly hook?: ResourceHook;
    /**
     * Run as a preview of a fresh stack: what a provider computes on create (ids, ARNs,
     * addresses, generated keys) is unknown, and so is every input built from it (see
     * `previewState` in tools/mocks.ts). Without it, the run is "as applied": everything known.
     * @default false
     */
    readonly preview?: boolean;
    /**
     * A local clone of the services monorepo to pack sources from (as `PAKASHOP_SERVICES_REPO`
     * does for a real run). Without one (and without that variable) the plan shows each
     * service's source as not packed.
     * @default process.env.PAKASHOP_SERVICES_REPO
     */
    readonly servicesRepository?: string;
    /**
     * Run as a new stack's first deploy: the foundation only, as `PAKASHOP_FIRST_DEPLOY=<stack>`
     * asks (components/firstDeployMode.ts).
     * @default false
     */
    readonly firstDeploy?: boolean;
}

const PROGRAM = path.join(REPO_ROOT, "index.ts");

interface Recorded {
    readonly resource: pulumi.Resource;
    readonly type: string;
    readonly name: string;
    readonly parent?: pulumi.Resource;
    readonly dependsOn: pulumi.Resource[] | Promise<pulumi.Resource[]>;
}

function dependenciesOf(opts: pulumi.ResourceOptions): pulumi.Resource[] | Promise<pulumi.Resource[]> {
    const deps = opts.dependsOn;
    if (deps === undefined) return [];
    if (Array.isArray(deps)) return deps.filter((d): d is pulumi.Resource => pulumi.Resource.isInstance(d));
    if (pulumi.Resource.isInstance(deps)) return [deps];
    // A promise of resources declared later (the fleet's drains wait on every host's prepares):
    // read once the program has run. An Output would hide edges: refused.
    // (The SDK's option merging turns a promise into an Output; its promise is the same list.)
    const promised = pulumi.Output.isInstance(deps) ? (deps as unknown as { promise(): Promise<unknown> }).promise() : deps;
    return Promise.resolve(promised).then((list) => (Array.isArray(list) ? list : [list]).filter((d): d is pulumi.Resource => pulumi.Resource.isInstance(d)));
}

function urnOf(resource: pulumi.Resource): Promise<string> {
    return new Promise((resolve) => resource.urn.apply((urn) => resolve(urn)));
}

/** Runs the program once. Only one run at a time per process: Pulumi's runtime is global. */
export async function runOffline(stackConfig: StackConfig, options: OfflineRunOptions = {}): Promise<OfflineRun> {
    const preview = options.preview ?? false;
    const mocks = new RecordingMocks(options.hook, preview);
    await pulumi.runtime.setMocks(mocks, stackConfig.project, stackConfig.stack, preview);
    pulumi.runtime.setAllConfig(stackConfig.config, stackConfig.secretKeys);

    const recorded: Recorded[] = [];
    const record: pulumi.ResourceTransformation = (args) => {
        recorded.push({
            resource: args.resource,
            type: args.type,
            name: args.name,
            parent: args.opts.parent,
            dependsOn: dependenciesOf(args.opts),
        });
        return undefined;
    };

    // The program is a module with top-level code: load it fresh for every run.
    delete require.cache[require.resolve(PROGRAM)];
    const restoreSources = sourcesEnvironment(options.servicesRepository);
    const savedFirstDeploy = process.env[FIRST_DEPLOY_ENV];
    if (options.firstDeploy) process.env[FIRST_DEPLOY_ENV] = stackConfig.stack;
    else delete process.env[FIRST_DEPLOY_ENV];
    try {
        // Outputs are read back from the monitor below, where secrets are still marked.
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation(record);
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            return require(PROGRAM);
        });
    } finally {
        restoreSources();
        if (savedFirstDeploy === undefined) delete process.env[FIRST_DEPLOY_ENV];
        else process.env[FIRST_DEPLOY_ENV] = savedFirstDeploy;
        await pulumi.runtime.disconnect();
    }
    // A failed resource doesn't reject the stack's outputs; the engine would still fail the
    // update, so a run with a failed resource fails too.
    if (mocks.errors.length > 0) throw mocks.errors[0];

    const byKey = new Map<string, Registration>();
    for (const registration of mocks.registrations) {
        const key = `${registration.type}::${registration.name}`;
        if (byKey.has(key)) throw new Error(`offlineRun: two resources named ${key}; names must be unique per type`);
        byKey.set(key, registration);
    }
    const stack = pulumi.runtime.getStackResource();
    const stackUrn = stack ? await urnOf(stack) : null;
    const resources: PlannedResource[] = [];
    for (const r of recorded) {
        const registration = byKey.get(`${r.type}::${r.name}`);
        resources.push({
            urn: await urnOf(r.resource),
            type: r.type,
            name: r.name,
            custom: registration?.custom ?? false,
            // Resources without an explicit parent belong to the stack, as in the engine.
            parent: r.parent ? await urnOf(r.parent) : stackUrn,
            dependsOn: await Promise.all((await r.dependsOn).map(urnOf)),
            inputs: registration?.inputs ?? {},
        });
    }
    return {
        project: stackConfig.project,
        stack: stackConfig.stack,
        preview,
        resources,
        outputs: await stackOutputs(),
        placeholderSecrets: stackConfig.placeholderSecrets,
    };
}

/**
 * Points the program at the clone to pack sources from, or (with none) lets it plan with
 * placeholders; returns what puts things back.
 */
function sourcesEnvironment(servicesRepository: string | undefined): () => void {
    const saved = process.env[SERVICES_REPOSITORY_ENV];
    const repo = servicesRepository ?? saved;
    if (repo) process.env[SERVICES_REPOSITORY_ENV] = repo;
    allowPlaceholderSources(!repo);
    return () => {
        allowPlaceholderSources(false);
        if (saved === undefined) delete process.env[SERVICES_REPOSITORY_ENV];
        else process.env[SERVICES_REPOSITORY_ENV] = saved;
    };
}

/**
 * The stack's outputs as the engine stores them (serialized, so secrets stay marked), read
 * back from the mock monitor.
 */
async function stackOutputs(): Promise<Record<string, unknown>> {
    const monitor = pulumi.runtime.getMonitor() as unknown as {
        resources?: Map<string, { urn: string; state: { toJavaScript?: () => Record<string, unknown> } | Record<string, unknown> }>;
    } | undefined;
    const stackEntry = [...(monitor?.resources?.values() ?? [])].find((r) => r.urn.endsWith(`::pulumi:pulumi:Stack::${pulumi.getProject()}-${pulumi.getStack()}`));
    if (!stackEntry) return {};
    const state = stackEntry.state as { toJavaScript?: () => Record<string, unknown> };
    return typeof state.toJavaScript === "function" ? state.toJavaScript() : (stackEntry.state as Record<string, unknown>);
}

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Whether a (serialized or deserialized) value is a Pulumi secret. */
export function isSecretValue(value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Replaces every secret with `"[secret]"`, at any depth. */
export function redactSecrets(value: unknown): unknown {
    if (isSecretValue(value)) return "[secret]";
    if (Array.isArray(value)) return value.map(redactSecrets);
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactSecrets(v)]));
    }
    return value;
}

/** Removes secret wrappers, keeping the values (for tests that assert on secret inputs). */
export function unwrapSecrets(value: unknown): unknown {
    if (isSecretValue(value)) return unwrapSecrets((value as Record<string, unknown>).value);
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}
