/**
 * Steady, bounded load on the stage's API from Cloudflare's position (the public side, from the
 * Cloudflare edge address, the only one the load balancer admits) through the load balancer to
 * the gateway's health path, and a watch on the load balancer's view of its targets. Used by the
 * fleet's end-to-end test and the availability benchmark, so both count failed requests the
 * same way (tools/loadProbe.ts: connection errors, timeouts and non-2xx answers).
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as path from "path";
import { Stage } from "./stage";
import { PUBLIC } from "./testNetwork";

/** Concurrent connections: a steady trickle on 2 shared cores, not a stress test. */
export const LOAD_CONNECTIONS = 4;
/** The path every request asks for: the gateway's public health path, through nginx. */
export const LOAD_PATH = "/api/v1/health";

export interface LoadResult {
    readonly requests: number;
    readonly failed: number;
    readonly errors: number;
    readonly timeouts: number;
    readonly non2xx: number;
}

export interface RunningLoad {
    /** Stops the load and returns what it saw. */
    stop(): Promise<LoadResult>;
}

/**
 * Makes connections from the public namespace to the load balancer leave from the Cloudflare
 * address (the load balancer admits no other).
 */
export function connectFromCloudflare(stage: Pick<Stage, "publicNetns">): void {
    execFileSync("ip", ["-n", stage.publicNetns, "route", "replace", `${PUBLIC.loadBalancerAddress}/32`, "dev", "eth0", "src", PUBLIC.cloudflareAddress]);
}

/** Starts the load; it runs (at most an hour) until stopped. */
export function startLoad(stage: Pick<Stage, "publicNetns">, connections = LOAD_CONNECTIONS): RunningLoad {
    connectFromCloudflare(stage);
    const root = path.resolve(__dirname, "..", "..");
    const child: ChildProcess = spawn("ip", ["netns", "exec", stage.publicNetns, process.execPath, "--require", path.join(root, "tools", "register.js"),
        path.join(root, "tools", "loadProbe.ts"), `https://${PUBLIC.loadBalancerAddress}${LOAD_PATH}`, String(connections)], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d));
    child.stderr?.on("data", (d: Buffer) => (stderr += d));
    const ended = new Promise<void>((resolve) => child.on("close", () => resolve()));
    return {
        async stop() {
            child.kill("SIGTERM");
            await ended;
            const line = stdout.trim().split("\n").pop() ?? "";
            if (!line.startsWith("{")) throw new Error(`the load probe printed no result: ${stderr.trim() || stdout.trim()}`);
            return JSON.parse(line) as LoadResult;
        },
    };
}

/** Runs `action` under load, with a margin of load before and after it. */
export async function underLoad<T>(stage: Pick<Stage, "publicNetns">, action: () => Promise<T>, marginMs = 1500): Promise<{ load: LoadResult; seconds: number; result: T | undefined; error: unknown }> {
    const load = startLoad(stage);
    await sleep(marginMs);
    const started = Date.now();
    let result: T | undefined;
    let error: unknown;
    try {
        result = await action();
    } catch (caught) {
        error = caught;
    }
    const seconds = (Date.now() - started) / 1000;
    await sleep(marginMs);
    return { load: await load.stop(), seconds, result, error };
}

/** A watch on how many targets the load balancer sends requests to, sampled every `everyMs`. */
export interface ServingWatch {
    /** Stops watching: the fewest targets in service seen, and every change as `<ms> <names>`. */
    stop(): Promise<{ fewest: number; changes: string[] }>;
}

export function watchServing(stage: Pick<Stage, "loadBalancer">, everyMs = 100): ServingWatch {
    let fewest = Number.POSITIVE_INFINITY;
    const changes: string[] = [];
    let last = "";
    let running = true;
    const t0 = Date.now();
    const loop = (async () => {
        while (running) {
            const servers = await stage.loadBalancer.servers();
            const serving = Object.values(servers).filter((s) => s.serving).map((s) => s.name).sort();
            fewest = Math.min(fewest, serving.length);
            const now = serving.join(",");
            if (now !== last) changes.push(`${Date.now() - t0} ms: ${now || "none"}`);
            last = now;
            await sleep(everyMs);
        }
    })();
    return {
        async stop() {
            running = false;
            await loop;
            return { fewest, changes };
        },
    };
}

export function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until the load balancer sends requests to the target `server` (a server name: `h1`, `h2`). */
export async function waitUntilServing(stage: Pick<Stage, "loadBalancer">, server: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await stage.loadBalancer.servers())[server]?.serving) {
        if (Date.now() > deadline) throw new Error(`the load balancer did not take ${server} in within ${timeoutMs / 1000} s`);
        await sleep(250);
    }
}
