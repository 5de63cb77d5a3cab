/** Shared helpers for the specs: offline runs of the real program, and config sources. */
import { spawnSync } from "child_process";
import { OfflineRun, PlannedResource, runOffline } from "../tools/offlineRun";
import { loadStackConfig } from "../tools/stackConfig";

export { configSource } from "../tools/configSource";

const cache = new Map<string, Promise<OfflineRun>>();

/** Runs the program for a stack (cached when there are no overrides). Runs never overlap. */
export function planStack(stack: string, overrides?: Record<string, unknown>): Promise<OfflineRun> {
    if (!overrides) {
        const cached = cache.get(stack);
        if (cached) return cached;
    }
    const run = queue.then(() => runOffline(loadStackConfig(stack, overrides)));
    queue = run.then(() => undefined, () => undefined);
    if (!overrides) cache.set(stack, run);
    return run;
}
let queue: Promise<void> = Promise.resolve();

export function byType(run: OfflineRun, type: string): PlannedResource[] {
    return run.resources.filter((r) => r.type === type);
}

export function single(run: OfflineRun, type: string): PlannedResource {
    const found = byType(run, type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0];
}

/** Runs a command and returns its exit code and output (never throws on a non-zero exit). */
export function exec(command: string, args: string[], options: { cwd?: string; input?: string } = {}): { status: number; output: string } {
    const result = spawnSync(command, args, { encoding: "utf8", cwd: options.cwd, input: options.input });
    if (result.error) throw result.error;
    return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}
