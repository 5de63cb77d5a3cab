/**
 * Small process helpers shared by the test-host modules: run a command and collect its output,
 * poll with a deadline, and identify processes safely (PID plus start time, so a recycled PID is
 * never mistaken for one we started).
 */
import { spawn } from "child_process";
import * as fs from "fs";

/** What a finished command left behind. `code` is the exit status, or 128 + signal number. */
export interface CommandResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
    /** Text written to the command's stdin (stdin is closed either way). */
    input?: string;
    /** Kill the command (SIGKILL) after this long; the result then has code 124 like timeout(1). */
    timeoutMs?: number;
    /** Environment; defaults to this process's environment. */
    env?: NodeJS.ProcessEnv;
    cwd?: string;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Runs a command to completion. Never throws for a non-zero exit; throws if it can't start. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let timedOut = false;
        const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
        }, options.timeoutMs);
        child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
        child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
        // A command that exits before reading its input makes the write fail with EPIPE; that is
        // the command's business, reported through its exit status.
        child.stdin.on("error", () => undefined);
        child.stdin.end(options.input ?? "");
        child.on("error", (error) => {
            clearTimeout(timer);
            reject(new Error(`could not start ${command}: ${error.message} (is it installed and on PATH?)`));
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            const status = timedOut ? 124 : code ?? 128 + (signal ? SIGNAL_NUMBERS[signal] ?? 0 : 0);
            resolve({ code: status, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
        });
    });
}

/** Runs a command and throws, with its output and a hint, unless it exits 0. */
export async function runOk(command: string, args: string[], what: string, options: RunOptions = {}): Promise<CommandResult> {
    const result = await run(command, args, options);
    if (result.code !== 0) {
        const output = `${result.stdout}${result.stderr}`.trim().split("\n").slice(-20).join("\n");
        throw new Error(`${what} failed: \`${[command, ...args].join(" ")}\` exited ${result.code}${output ? `:\n${output}` : ""}`);
    }
    return result;
}

export function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `probe` every `intervalMs` until it returns a value other than undefined, or throws
 * after `timeoutMs` with `describe()` (called once, at the end) saying what was last seen.
 */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs: number, describe: () => string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() >= deadline) throw new Error(describe());
        await sleep(intervalMs);
    }
}

/** A process identity that survives PID reuse: the PID and its start time in clock ticks. */
export interface ProcessId {
    pid: number;
    startTime: number;
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
    try {
        const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return text.slice(text.lastIndexOf(")") + 2).split(" ");
    } catch {
        return undefined;
    }
}

/** The identity of a running process, or undefined if it is gone (or a zombie). */
export function processId(pid: number): ProcessId | undefined {
    const fields = statFields(pid);
    // fields[0] is the state (field 3 of stat); start time is field 22, i.e. fields[19].
    if (!fields || fields[0] === "Z") return undefined;
    return { pid, startTime: Number(fields[19]) };
}

/** True if the very process recorded in `id` still runs (same PID and same start time). */
export function isSameProcess(id: ProcessId): boolean {
    const now = processId(id.pid);
    return now !== undefined && now.startTime === id.startTime;
}

/** Direct children of a process, found by scanning /proc (this kernel has no /proc/PID/task/TID/children). */
export function childrenOf(pid: number): number[] {
    const children: number[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        const fields = statFields(Number(entry));
        if (fields && Number(fields[1]) === pid) children.push(Number(entry));
    }
    return children;
}

/** Sends a signal to a recorded process only if it is still that process. Returns whether it was sent. */
export function signalRecorded(id: ProcessId, signal: NodeJS.Signals | number): boolean {
    if (!isSameProcess(id)) return false;
    try {
        process.kill(id.pid, signal);
        return true;
    } catch {
        return false;
    }
}

/** The last `lines` lines of a text file, or "" if it can't be read. */
export function tailOf(file: string, lines = 30): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "";
    }
}

/** Mount points at or below `dir` in this mount namespace, deepest first. */
export function mountsBelow(dir: string): string[] {
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    const points = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter(Boolean).map((line) => unescape(line.split(" ")[4]));
    return points.filter((p) => p === dir || p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

/**
 * Deletes a folder tree that may hold a root filesystem. Anything still mounted below it (a
 * crashed debootstrap leaves /proc or a bound /dev there) is detached first, and rm is told to
 * stay on one file system, so a leftover bind mount can never take host files with it.
 */
export async function removeTree(dir: string): Promise<void> {
    if (!fs.existsSync(dir)) return;
    for (const point of mountsBelow(dir)) await runOk("umount", ["--lazy", point], `unmounting ${point}`);
    await runOk("rm", ["-rf", "--one-file-system", dir], `deleting ${dir}`);
}
