/**
 * A small stand-in for the Pulumi engine's handling of `@pulumi/command` resources, plugged
 * into the mocks of an offline run: it keeps state between runs and, like the engine, creates
 * a command on first sight, replaces it (create the new, then delete the old) when a trigger
 * changes, updates it when another input changes, leaves it alone when nothing changed, and
 * deletes what a run no longer declares. Remote commands run over real SSH (the system `ssh`,
 * verifying the pinned host key); local commands run here. Because the mocks' `newResource`
 * is async, dependents wait for their dependencies and independent steps run in parallel,
 * exactly as under the engine. A run can also be a preview: it works out the same actions and
 * runs none of them ({@link CommandEngine.beginRun}).
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ResourceHook } from "../../tools/mocks";
import { unwrapSecrets } from "../../tools/offlineRun";
import { copyDirectoryOverSsh, copyFileOverSsh, runOverSsh, spawnCollect, SshTarget } from "../../tools/ssh";

export type Action = "create" | "update" | "replace" | "delete";

/** What a preview found a run would do to one command resource. */
export interface PlannedStep {
    readonly name: string;
    readonly action: Action;
}

/** One command the engine ran. */
export interface Execution {
    readonly name: string;
    readonly action: Action;
    /** The SSH target (`user@host`) of a remote step; absent for local commands. */
    readonly target?: string;
    readonly startedMs: number;
    readonly endedMs: number;
    readonly exitCode: number;
    readonly stdout: string;
    readonly stderr: string;
}

interface CommandInputs {
    create?: string;
    update?: string;
    delete?: string;
    triggers?: unknown[];
    connection?: SshTarget;
    environment?: Record<string, string>;
    interpreter?: string[];
    stdin?: string;
    /** CopyToRemote: the local file or folder (a FileAsset's or FileArchive's path) and where it goes. */
    sourcePath?: string;
    /** CopyToRemote: whether the source is a folder (a FileArchive). */
    sourceIsFolder?: boolean;
    remotePath?: string;
}

interface StoredResource {
    readonly type: string;
    readonly inputs: CommandInputs;
    readonly fingerprint: string;
    readonly state: Record<string, unknown>;
}

const COPY_TYPE = "command:remote:CopyToRemote";
const COMMAND_TYPES = new Set(["command:remote:Command", "command:local:Command", COPY_TYPE]);

/** Raised when a command exits non-zero; carries what it printed, as the provider's error does. */
export class CommandFailed extends Error {
    constructor(readonly execution: Execution) {
        super(`${execution.action} of ${execution.name} failed with exit code ${execution.exitCode}\n` +
            `stdout:\n${execution.stdout}\nstderr:\n${execution.stderr}`);
    }
}

export class CommandEngine {
    /** Every command run so far, in order of completion. */
    readonly executions: Execution[] = [];
    private readonly state = new Map<string, StoredResource>();
    private seenThisRun = new Set<string>();
    private previewing = false;
    private plannedSteps: PlannedStep[] = [];
    private readonly t0 = Date.now();

    /**
     * @param fallback answers every non-command resource (e.g. the test host's address and key).
     */
    constructor(private readonly fallback: ResourceHook = async () => undefined) {}

    /** The mocks hook for `runOffline`. */
    readonly hook: ResourceHook = async (args) => {
        if (!COMMAND_TYPES.has(args.type)) return this.fallback(args);
        const key = `${args.type}::${args.name}`;
        this.seenThisRun.add(key);
        const inputs = await commandInputs(args);
        // Like the engine, an asset or archive counts by its content's hash, not its path.
        const fingerprint = JSON.stringify({ ...inputs, sourceHash: inputs.sourcePath ? sha256Path(inputs.sourcePath) : undefined });
        const previous = this.state.get(key);
        if (previous && previous.fingerprint === fingerprint) {
            return { id: args.name, state: previous.state };
        }
        if (this.previewing) {
            const action: Action = !previous ? "create" : JSON.stringify(previous.inputs.triggers ?? []) !== JSON.stringify(inputs.triggers ?? []) ? "replace" : "update";
            this.plannedSteps.push({ name: args.name, action });
            // What the step printed is not known before it runs; the old output stands in.
            return { id: args.name, state: previous?.state ?? { ...args.inputs, stdout: "", stderr: "" } };
        }
        let result: Execution;
        if (!previous) {
            result = await this.run(args.name, "create", args.type, inputs, inputs.create);
        } else if (JSON.stringify(previous.inputs.triggers ?? []) !== JSON.stringify(inputs.triggers ?? [])) {
            // Replacement: the engine creates the replacement first, then deletes the old one.
            result = await this.run(args.name, "replace", args.type, inputs, inputs.create);
            await this.run(args.name, "delete", previous.type, previous.inputs, previous.inputs.delete);
        } else {
            result = await this.run(args.name, "update", args.type, inputs, inputs.update ?? inputs.create);
        }
        const state = { ...args.inputs, stdout: result.stdout, stderr: result.stderr };
        this.state.set(key, { type: args.type, inputs, fingerprint, state });
        return { id: args.name, state };
    };

    /**
     * Call before each program run. A preview (`pulumi preview`) runs nothing and changes no
     * state; {@link plan} then says what the run would have done.
     */
    beginRun(mode: "up" | "preview" = "up"): void {
        this.seenThisRun = new Set();
        this.previewing = mode === "preview";
        this.plannedSteps = [];
    }

    /**
     * After a preview: every step the run would take, in the order the program reached them,
     * then the deletes of what it no longer declares.
     */
    plan(): PlannedStep[] {
        const deletes = [...this.state.keys()].filter((k) => !this.seenThisRun.has(k)).reverse().map((k) => ({ name: k.split("::")[1], action: "delete" as const }));
        return [...this.plannedSteps, ...deletes];
    }

    /**
     * Deletes what the last run no longer declared (or everything, for a destroy), newest
     * first, as the engine deletes dependents before their dependencies.
     */
    async deleteUndeclared(everything = false): Promise<void> {
        if (this.previewing) throw new Error("deleteUndeclared after a preview: a preview deletes nothing (see plan())");
        const doomed = [...this.state.keys()].filter((k) => everything || !this.seenThisRun.has(k)).reverse();
        for (const key of doomed) {
            const stored = this.state.get(key) as StoredResource;
            await this.run(key.split("::")[1], "delete", stored.type, stored.inputs, stored.inputs.delete);
            this.state.delete(key);
        }
    }

    /** Executions since index `from`, optionally of one action. */
    since(from: number, action?: Action): Execution[] {
        return this.executions.slice(from).filter((e) => !action || e.action === action);
    }

    private async run(name: string, action: Action, type: string, inputs: CommandInputs, command: string | undefined): Promise<Execution> {
        const startedMs = Date.now() - this.t0;
        const target = inputs.connection ? `${inputs.connection.user}@${inputs.connection.host}` : undefined;
        if (type === COPY_TYPE) {
            // A copy deletes nothing (the provider's Delete is a no-op); create, update and
            // replace all write the file.
            if (action === "delete") return this.record({ name, action, target, startedMs, endedMs: startedMs, exitCode: 0, stdout: "", stderr: "" });
            const copied = await withDialRetries(inputs.connection as SshTarget & { dialErrorLimit?: number }, (connection) => (inputs.sourceIsFolder
                ? copyDirectoryOverSsh(connection, inputs.sourcePath as string, inputs.remotePath as string)
                : copyFileOverSsh(connection, inputs.sourcePath as string, inputs.remotePath as string)));
            return this.record({ name, action, target, startedMs, endedMs: Date.now() - this.t0, ...copied });
        }
        if (!command) {
            return this.record({ name, action, target, startedMs, endedMs: startedMs, exitCode: 0, stdout: "", stderr: "" });
        }
        const { exitCode, stdout, stderr } = type === "command:local:Command"
            ? await this.runLocal(command, inputs)
            : await withDialRetries(inputs.connection as SshTarget & { dialErrorLimit?: number }, (connection) => runOverSsh(connection, command, 600, inputs.stdin));
        return this.record({ name, action, target, startedMs, endedMs: Date.now() - this.t0, exitCode, stdout, stderr });
    }

    private record(execution: Execution): Execution {
        this.executions.push(execution);
        if (execution.exitCode !== 0) throw new CommandFailed(execution);
        return execution;
    }

    private runLocal(command: string, inputs: CommandInputs) {
        const [interpreter, ...flags] = inputs.interpreter ?? ["/bin/sh", "-c"];
        return spawnCollect(interpreter, [...flags, command], 600, { ...process.env, ...(inputs.environment ?? {}) }, inputs.stdin);
    }
}

/** Failures of ssh before the command ran (the provider's "dial errors"), which it retries. */
const DIAL_ERROR = /kex_exchange_identification|Connection refused|Connection timed out|Connection reset|Connection closed by/;

/** Like the provider: retry dial errors up to `dialErrorLimit` times (default 10), no pause. */
async function withDialRetries<R extends { exitCode: number; stderr: string }>(target: SshTarget & { dialErrorLimit?: number }, attempt: (target: SshTarget) => Promise<R>): Promise<R> {
    const limit = target.dialErrorLimit ?? 10;
    for (let tries = 1; ; tries++) {
        const result = await attempt(target);
        if (result.exitCode !== 255 || !DIAL_ERROR.test(result.stderr) || tries >= limit) return result;
    }
}

/** A command's inputs with secrets unwrapped; a CopyToRemote's FileAsset or FileArchive becomes its path. */
async function commandInputs(args: pulumi.runtime.MockResourceArgs): Promise<CommandInputs> {
    const { source, ...rest } = args.inputs as Record<string, unknown>;
    const inputs = unwrapSecrets(rest) as CommandInputs;
    if (args.type !== COPY_TYPE) return inputs;
    if (source instanceof pulumi.asset.FileAsset) return { ...inputs, sourcePath: await source.path };
    if (source instanceof pulumi.asset.FileArchive) return { ...inputs, sourcePath: await source.path, sourceIsFolder: true };
    throw new Error(`${args.name}: the engine stand-in copies FileAssets and folder FileArchives only`);
}

/**
 * The content hash of an asset (its bytes) or a folder archive (every file's name and bytes, as
 * the engine's tar of a folder; pulumi sdk/go/common/resource/archive archiveTar); a preview
 * without packed sources has only the path.
 */
function sha256Path(file: string): string {
    if (!fs.existsSync(file)) return `not packed: ${file}`;
    const hash = createHash("sha256");
    const add = (at: string, name: string) => {
        if (fs.statSync(at).isDirectory()) {
            for (const entry of fs.readdirSync(at).sort()) add(path.join(at, entry), name ? `${name}/${entry}` : entry);
        } else {
            hash.update(name).update("\0").update(fs.readFileSync(at)).update("\0");
        }
    };
    add(file, "");
    return hash.digest("hex");
}
