/**
 * `npm run bench`: wall time and peak memory of the offline production plan, each run a fresh
 * process (Node start, TypeScript transpile, module loading and the program under mocks), as
 * an engineer or CI pays for it: one run with an empty compile cache (the first after install),
 * then warm runs. Prints figures; targets are 2 s and 350 MB.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TARGET_SECONDS = 2;
const TARGET_MB = 350;
const root = path.resolve(__dirname, "..");

interface Sample { seconds: number; peakMB: number; policyMs: number }

/** One fresh process; `compileCacheDir` points Node's compile cache somewhere (empty = a cold run). */
function measure(stack: string, compileCacheDir?: string): Sample {
    const started = process.hrtime.bigint();
    const env = compileCacheDir ? { ...process.env, NODE_COMPILE_CACHE: compileCacheDir } : process.env;
    const child = spawnSync(process.execPath, ["--require", path.join(root, "tools/register.js"), path.join(root, "tools/benchChild.ts"), stack], {
        cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env,
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const report = child.stderr.trim().split("\n").pop() ?? "";
    let parsed: { exitCode: number; maxRssKiB: number; policyMs: number };
    try {
        parsed = JSON.parse(report);
    } catch {
        throw new Error(`plan run failed (status ${child.status}):\n${child.stderr}`);
    }
    if (parsed.exitCode !== 0) throw new Error(`plan exited ${parsed.exitCode}:\n${child.stderr}`);
    return { seconds, peakMB: parsed.maxRssKiB / 1024, policyMs: parsed.policyMs };
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
}

const stack = process.argv[2] ?? "production";
const coldCache = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-bench-cache-"));
const cold = measure(stack, coldCache); // first run after install: empty compile cache
fs.rmSync(coldCache, { recursive: true, force: true });
measure(stack); // warm the default compile cache and the file cache; not counted
const samples = Array.from({ length: RUNS }, () => measure(stack));
const seconds = samples.map((s) => s.seconds);
const peaks = samples.map((s) => s.peakMB);
const verdict = (ok: boolean) => (ok ? "within target" : "OVER TARGET");
console.log(`offline plan, ${stack} stack, ${RUNS} runs, Node ${process.version}`);
console.log(`first run, cold compile cache: ${cold.seconds.toFixed(2)} s, ${cold.peakMB.toFixed(0)} MB`);
console.log(`wall time   median ${median(seconds).toFixed(2)} s  min ${Math.min(...seconds).toFixed(2)} s  max ${Math.max(...seconds).toFixed(2)} s  (target <= ${TARGET_SECONDS} s: ${verdict(Math.max(...seconds) <= TARGET_SECONDS)})`);
const policyMs = samples.map((s) => s.policyMs);
console.log(`policies    median ${median(policyMs).toFixed(0)} ms  max ${Math.max(...policyMs).toFixed(0)} ms to evaluate every policy (target < 1000 ms: ${verdict(Math.max(...policyMs) < 1000)})`);
console.log(`peak memory median ${median(peaks).toFixed(0)} MB  max ${Math.max(...peaks).toFixed(0)} MB  (target <= ${TARGET_MB} MB: ${verdict(Math.max(...peaks) <= TARGET_MB)})`);
