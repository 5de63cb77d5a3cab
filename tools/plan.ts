/**
 * `npm run plan -- --stack <staging|production> [--format text|json|markdown|sarif] [--mode preview|applied]`
 *
 * Runs the program for a stack offline, under Pulumi's mocks, with that stack's config file,
 * and prints what it would deploy: resources grouped by component with their dependencies,
 * the rollout waves, the outputs, and what the stack needs of the Cloudflare zone (the plan
 * each zone-level feature needs, the entry-point rulesets it creates; components/cloudflarePlans.ts).
 * No cloud account or Pulumi CLI is needed.
 * `--mode preview` (the default) runs it as `pulumi preview` of a new stack does: what
 * providers compute on create (ids, ARNs, addresses, generated keys) is unknown, and so is
 * every input built from it; the policies judge what is known, and one that touches an
 * unknown is reported as advisory, as @pulumi/policy does. `--mode applied` runs it with
 * every value known (the mocks' stand-ins), as the end of a `pulumi up` sees it.
 * The policy pack runs over the plan with `policy/<stack>.json`; its verdict is part of every
 * format (`--format sarif` gives only that verdict, as SARIF 2.1.0 for code scanning).
 * `npm run policy -- --plan FILE` judges a plan written with `--format json` again (tools/policy.ts).
 * Exit codes: 0 planned, 5 a mandatory policy is violated (as `pulumi preview`), 1 the program
 * rejected the configuration, 2 bad command line.
 */
import "./fastStart"; // first: caches the compilation of everything imported after it
import { choiceFlag, parseFlags, runAsScript, runTool, UsageError } from "./cli";
import { runOffline } from "./offlineRun";
import { Format, formatPlan, FORMATS, planDocument } from "./planFormat";
import { switchWaves } from "./planModel";
import { checkPolicies, exitCodeFor, loadPackConfig } from "./policyCheck";
import { listStacks, loadStackConfig } from "./stackConfig";

const MODES = ["preview", "applied"] as const;
type Mode = (typeof MODES)[number];

const USAGE = `usage: npm run plan -- --stack <${listStacks().join("|")}> [--format ${FORMATS.join("|")}] [--mode ${MODES.join("|")}]`;

function parseArgs(argv: string[]): { stack: string; format: Format; mode: Mode } {
    const flags = parseFlags(argv, { "--stack": "stack", "-s": "stack", "--format": "format", "--mode": "mode" });
    if (!flags.stack) throw new UsageError("--stack is required");
    return { stack: flags.stack, format: choiceFlag("--format", flags.format, FORMATS, "text"), mode: choiceFlag("--mode", flags.mode, MODES, "preview") };
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, parseArgs, async (args) => {
        const config = loadStackConfig(args.stack);
        const run = await runOffline(config, { preview: args.mode === "preview" });
        const waves = switchWaves(run.resources);
        const violations = await checkPolicies(run, loadPackConfig(args.stack));
        process.stdout.write(formatPlan(planDocument(run, waves, violations, config.secretKeys.map((key) => config.config[key])), args.format));
        return exitCodeFor(violations);
    });
}

runAsScript(module, main);
