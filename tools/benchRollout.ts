/**
 * `npm run bench:rollout` (as root): the seed's `deploy.sh`, run unchanged, and the program,
 * side by side on the same fresh systemd test host and the same fixture monorepo (real
 * dependencies per language, tests/e2e/fixture.ts), in one run, for four cases:
 *
 * - first deploy: a host that has never run the services (v1);
 * - one service changed: a commit that changes one Node service's code only (v1 -> v2);
 * - all 19 changed: a commit that changes every service's code, no dependency (v2 -> v3);
 * - no-op: the same commit again (v3 -> v3).
 *
 * `deploy.sh` runs first, from a clone at /opt/pakashop that pulls the branch from a bare copy
 * of the fixture served on the test network (the seed's host layout; tests/e2e/seedDeploy.ts),
 * then its units and clone are removed and the program deploys the same commits from the
 * stack file, as the deploy workflow does. For each case it prints both times and their ratio;
 * for the program also the switch window (first restart to last healthy service, from the
 * switch's own log), the remote commands it ran (each an SSH session), and the
 * `systemctl daemon-reload`s the host did (its journal). The targets of issue 12 are checked at
 * the end. `BENCH_RUNS=n` repeats on fresh hosts.
 */
import { execFileSync } from "child_process";
import { CATALOG } from "../components/catalog";
import { Execution } from "../tests/e2e/commandEngine";
import { createSeedRemote, installSeedLayout, removeSeedLayout, runSeedDeploy } from "../tests/e2e/seedDeploy";
import { prepareStage, Stage } from "../tests/e2e/stage";
import { runHostBenchmark } from "./cli";
import { TestHost } from "../tests/e2e/testHost";

const RUNS = Number(process.env.BENCH_RUNS ?? 1);
/** Issue 12's targets. */
const TARGETS = { allChangedSpeedup: 10, switchWindowSeconds: 2, oneChangedSeconds: 1.5 };

type Case = "first deploy" | "one service changed" | "all 19 changed" | "no-op";
const CASES: readonly Case[] = ["first deploy", "one service changed", "all 19 changed", "no-op"];

interface ProgramFigures {
    readonly seconds: number;
    /** First restart to last healthy service, as the switch logged it; undefined if nothing restarted. */
    readonly switchWindowSeconds?: number;
    /** Remote commands run (each one SSH session): copies, prepares, the switch, host steps. */
    readonly remoteCommands: number;
    /** `daemon-reload`s systemd did on the backend host during the deploy. */
    readonly daemonReloads: number;
    /** Wall time of the switch step (one SSH session), if it ran. */
    readonly switchStepSeconds?: number;
    /** Services whose main PID changed. */
    readonly restarted: number;
}

/** Main PIDs of the 19 units on the host. */
async function mainPids(host: TestHost): Promise<Record<string, string>> {
    const ids = Object.keys(CATALOG.services);
    const result = await host.ssh(`systemctl show --property=MainPID --value ${ids.map((id) => `pakashop-${id}.service`).join(" ")}`);
    // One value per unit, the units separated by an empty line.
    const pids = result.stdout.split("\n").filter((line) => line.trim() !== "");
    return Object.fromEntries(ids.map((id, i) => [id, pids[i] ?? ""]));
}

/** systemd's "Reloading finished" lines since a moment (host clock, microseconds since the epoch). */
async function daemonReloadsSince(host: TestHost, sinceUs: string): Promise<number> {
    const result = await host.ssh(`journalctl --quiet --no-pager -o cat _PID=1 --since=@${Math.floor(Number(sinceUs) / 1e6)} | grep -c '^Reloading finished' || true`);
    return Number(result.stdout.trim() || 0);
}

async function hostClockUs(host: TestHost): Promise<string> {
    // Whole seconds are what --since takes; a reload in the second before the deploy would count,
    // so wait for the next second to start.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
    return (await host.ssh("date +%s%6N")).stdout.trim();
}

async function programCase(stage: Stage, revision: string): Promise<ProgramFigures> {
    const before = stage.engine.executions.length;
    const pidsBefore = await mainPids(stage.host);
    const since = await hostClockUs(stage.host);
    const started = process.hrtime.bigint();
    await stage.deploy(revision);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const ran = stage.engine.since(before);
    // The staging stack runs one backend host: its switch is rollout-1's.
    const switchStep = ran.find((e: Execution) => e.name.endsWith("-rollout-1-switch") && e.action !== "delete");
    const window = switchStep ? /switch window: (\d+) ms/.exec(switchStep.stdout) : null;
    const pidsAfter = await mainPids(stage.host);
    return {
        seconds,
        switchWindowSeconds: window ? Number(window[1]) / 1000 : undefined,
        remoteCommands: ran.filter((e) => e.target !== undefined && e.action !== "delete").length,
        daemonReloads: await daemonReloadsSince(stage.host, since),
        switchStepSeconds: switchStep ? (switchStep.endedMs - switchStep.startedMs) / 1000 : undefined,
        restarted: Object.keys(pidsAfter).filter((id) => pidsAfter[id] !== pidsBefore[id]).length,
    };
}

async function once(run: number): Promise<Record<Case, { seed: number; program: ProgramFigures }>> {
    const stage = await prepareStage("bench", 32, 60);
    const remote = await createSeedRemote(stage.repo.path, stage.segment.runnerAddress, { commit: stage.repo.commits.v1 });
    try {
        const { v1, v2, v3 } = stage.repo.commits;
        const commits: Record<Case, string> = { "first deploy": v1, "one service changed": v2, "all 19 changed": v3, "no-op": v3 };
        // The seed's way first, on the fresh host.
        const seed: Partial<Record<Case, number>> = {};
        await remote.setBranch(v1);
        await installSeedLayout(stage.host, { remoteUrl: remote.url, branch: stage.repo.branch, commit: v1 });
        for (const c of CASES) {
            await remote.setBranch(commits[c]);
            const result = await runSeedDeploy(stage.host);
            if (result.code !== 0) throw new Error(`deploy.sh failed in case "${c}" (exit ${result.code}):\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`);
            seed[c] = result.seconds;
            console.log(`run ${run}: deploy.sh, ${c}: ${result.seconds.toFixed(2)} s`);
        }
        await removeSeedLayout(stage.host);
        // Then the program, on the same host, from the stack file.
        const program: Partial<Record<Case, ProgramFigures>> = {};
        for (const c of CASES) {
            program[c] = await programCase(stage, commits[c]);
            const p = program[c] as ProgramFigures;
            console.log(`run ${run}: program,   ${c}: ${p.seconds.toFixed(2)} s, switch window ${p.switchWindowSeconds?.toFixed(2) ?? "-"} s, ` +
                `${p.remoteCommands} remote commands, ${p.daemonReloads} daemon-reloads, ${p.restarted} services restarted`);
        }
        return Object.fromEntries(CASES.map((c) => [c, { seed: seed[c] as number, program: program[c] as ProgramFigures }])) as Record<Case, { seed: number; program: ProgramFigures }>;
    } catch (error) {
        // What the host saw of a failed run (sshd, logind, the kernel) before the host goes away.
        const journal = await stage.host.ssh("journalctl --no-pager -o short-iso -n 400 _COMM=sshd _COMM=sshd-session _COMM=systemd-logind _TRANSPORT=kernel | tail -80").catch(() => undefined);
        if (journal) console.error(`backend host journal (sshd, logind, kernel), last lines:\n${journal.stdout}`);
        throw error;
    } finally {
        await remote.close();
        await stage.teardown();
    }
}

function machine(): string {
    const cpu = execFileSync("sh", ["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: "utf8" }).trim();
    return `${execFileSync("nproc", { encoding: "utf8" }).trim()} cores (${cpu}), test hosts: Debian 13 systemd containers on this machine`;
}

async function main(): Promise<void> {
    console.log(`rollout benchmark: the seed's deploy.sh vs the program, 19 services, ${RUNS} run(s) on fresh test hosts; ${machine()}`);
    const results: Record<Case, { seed: number; program: ProgramFigures }>[] = [];
    for (let run = 1; run <= RUNS; run++) results.push(await once(run));
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    console.log("\ncase                  deploy.sh   program   ratio   switch window   remote commands   daemon-reloads   restarted");
    for (const c of CASES) {
        const seed = median(results.map((r) => r[c].seed));
        const program = median(results.map((r) => r[c].program.seconds));
        const last = results[results.length - 1][c].program;
        const window = results.map((r) => r[c].program.switchWindowSeconds).filter((w): w is number => w !== undefined);
        console.log(`${c.padEnd(20)}  ${seed.toFixed(2).padStart(8)} s  ${program.toFixed(2).padStart(6)} s  ${(seed / program).toFixed(1).padStart(5)}x  ` +
            `${(window.length ? `${median(window).toFixed(2)} s` : "-").padStart(13)}  ${String(last.remoteCommands).padStart(16)}  ${String(last.daemonReloads).padStart(15)}  ${String(last.restarted).padStart(10)}`);
    }
    const all = results.map((r) => r["all 19 changed"]);
    const speedup = Math.min(...all.map((r) => r.seed / r.program.seconds));
    const window = Math.max(...all.map((r) => r.program.switchWindowSeconds ?? Infinity));
    const one = Math.max(...results.map((r) => r["one service changed"].program.seconds));
    const noop = Math.max(...results.map((r) => r["no-op"].program.remoteCommands));
    const verdict = (ok: boolean) => (ok ? "within target" : "OVER TARGET");
    console.log(`\nall 19 changed: ${speedup.toFixed(1)}x faster than deploy.sh (target >= ${TARGETS.allChangedSpeedup}x: ${verdict(speedup >= TARGETS.allChangedSpeedup)})`);
    console.log(`all 19 changed: switch window ${window.toFixed(2)} s (target <= ${TARGETS.switchWindowSeconds} s: ${verdict(window <= TARGETS.switchWindowSeconds)})`);
    console.log(`one service changed: ${one.toFixed(2)} s end to end (target <= ${TARGETS.oneChangedSeconds} s: ${verdict(one <= TARGETS.oneChangedSeconds)})`);
    console.log(`no-op: ${noop} remote commands (target 0: ${verdict(noop === 0)})`);
}

runHostBenchmark(main);
