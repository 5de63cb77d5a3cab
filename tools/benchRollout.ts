/**
 * `npm run bench:rollout` (as root): a full rollout of the 19 services by the real program onto
 * a fresh systemd test host, against its critical-path lower bound measured in the same run:
 * the sum over the waves of the slowest service's own deploy time. A rollout can't be faster
 * than that; the ratio shows what ordering and scheduling add on top. Target: <= 1.25.
 * `BENCH_RUNS=n` repeats on fresh hosts (cold build caches each time, as on a new host).
 */
import { CATALOG } from "../components/catalog";
import { rolloutWaves } from "../components/rollout";
import { Execution } from "../tests/e2e/commandEngine";
import { prepareStage } from "../tests/e2e/stage";

const RUNS = Number(process.env.BENCH_RUNS ?? 1);
const TARGET_RATIO = 1.25;

interface RolloutFigures {
    /** First service deploy start to last service deploy end. */
    rolloutSeconds: number;
    /** Sum over waves of the slowest deploy of the wave. */
    criticalPathSeconds: number;
    /** Including the one-off host steps (ssh-ready, bootstrap, proxy). */
    totalSeconds: number;
    slowestPerWave: string[];
}

function figures(executions: readonly Execution[]): RolloutFigures {
    const deploys = new Map(executions.filter((e) => e.name.endsWith("-deploy")).map((e) => [e.name.replace(/^.*-rollout-|-deploy$/g, ""), e]));
    if (deploys.size !== Object.keys(CATALOG.services).length) throw new Error(`expected 19 deploys, saw ${deploys.size}`);
    const duration = (e: Execution) => (e.endedMs - e.startedMs) / 1000;
    let criticalPathSeconds = 0;
    const slowestPerWave: string[] = [];
    for (const wave of rolloutWaves(CATALOG)) {
        const slowest = wave.serviceIds.map((id) => ({ id, s: duration(deploys.get(id) as Execution) })).sort((a, b) => b.s - a.s)[0];
        criticalPathSeconds += slowest.s;
        slowestPerWave.push(`${wave.tier.id}: ${slowest.id} ${slowest.s.toFixed(1)} s`);
    }
    const all = [...deploys.values()];
    const rolloutSeconds = (Math.max(...all.map((e) => e.endedMs)) - Math.min(...all.map((e) => e.startedMs))) / 1000;
    const totalSeconds = (Math.max(...executions.map((e) => e.endedMs)) - Math.min(...executions.map((e) => e.startedMs))) / 1000;
    return { rolloutSeconds, criticalPathSeconds, totalSeconds, slowestPerWave };
}

async function once(run: number): Promise<RolloutFigures> {
    const stage = await prepareStage("bench", 32, 60);
    try {
        await stage.deploy(stage.repo.commits.v1);
        const result = figures(stage.engine.executions);
        console.log(`run ${run}: rollout ${result.rolloutSeconds.toFixed(1)} s, critical path ${result.criticalPathSeconds.toFixed(1)} s, ` +
            `ratio ${(result.rolloutSeconds / result.criticalPathSeconds).toFixed(3)}, with host setup ${result.totalSeconds.toFixed(1)} s`);
        console.log(`       slowest per wave: ${result.slowestPerWave.join("; ")}`);
        return result;
    } finally {
        await stage.teardown();
    }
}

async function main(): Promise<void> {
    console.log(`rollout benchmark: 19 services, ${rolloutWaves(CATALOG).length} waves, ${RUNS} run(s) on fresh test hosts`);
    const results: RolloutFigures[] = [];
    for (let run = 1; run <= RUNS; run++) results.push(await once(run));
    const ratios = results.map((r) => r.rolloutSeconds / r.criticalPathSeconds);
    const worst = Math.max(...ratios);
    console.log(`worst ratio ${worst.toFixed(3)} (target <= ${TARGET_RATIO}: ${worst <= TARGET_RATIO ? "within target" : "OVER TARGET"})`);
}

main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
});
