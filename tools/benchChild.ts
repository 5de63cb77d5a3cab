/**
 * One measured run for `npm run bench`: the offline production plan with its policy check,
 * exactly as `npm run plan -- --stack production --format json` does it, then this process's
 * peak RSS and how long evaluating the policies took.
 */
import "./fastStart"; // first: caches the compilation of everything imported after it
import { runOffline } from "./offlineRun";
import { formatPlan, planDocument } from "./planFormat";
import { switchWaves } from "./planModel";
import { checkPolicies, exitCodeFor, loadPackConfig } from "./policyCheck";
import { loadStackConfig } from "./stackConfig";

async function measure(stack: string): Promise<void> {
    const run = await runOffline(loadStackConfig(stack));
    const started = process.hrtime.bigint();
    const violations = await checkPolicies(run, loadPackConfig(stack));
    const policyMs = Number(process.hrtime.bigint() - started) / 1e6;
    process.stdout.write(formatPlan(planDocument(run, switchWaves(run.resources), violations), "json"));
    process.stderr.write(`${JSON.stringify({ exitCode: exitCodeFor(violations), maxRssKiB: process.resourceUsage().maxRSS, policyMs })}\n`);
}

measure(process.argv[2] ?? "production").catch((error) => {
    process.stderr.write(`${String(error)}\n`);
    process.exitCode = 1;
});
