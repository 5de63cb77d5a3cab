/**
 * A command-line tool run as `npm run` runs it, in a child process, from the repository's root:
 * shared by the specs that check a tool's exit code and output.
 */
import { spawn } from "child_process";
import * as path from "path";

/** What a tool run printed, and its exit code. */
export interface ToolRun {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

/**
 * Runs a tool as `npm run` does (`node --require ./tools/register.js tools/<file> ...`) in a child
 * process, asynchronously: a stand-in server in the test's own process keeps answering while it
 * runs. `env` is added to this process's environment; a value undefined removes the variable.
 */
export function runToolProcess(file: string, args: readonly string[], env: Record<string, string | undefined>): Promise<ToolRun> {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, PAKASHOP_DEBUG: "" };
    for (const [key, value] of Object.entries(env)) {
        if (value === undefined) delete childEnv[key];
        else childEnv[key] = value;
    }
    const root = path.resolve(__dirname, "..", "..");
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["--require", "./tools/register.js", file, ...args], { cwd: root, env: childEnv });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk) => (stdout += chunk));
        child.stderr.on("data", (chunk) => (stderr += chunk));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}
