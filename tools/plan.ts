/**
 * `npm run plan -- --stack <staging|production> [--format text|json|markdown]`
 *
 * Runs the program for a stack offline, under Pulumi's mocks, with that stack's config file,
 * and prints what it would deploy: resources grouped by component with their dependencies,
 * the rollout waves, and the outputs. No cloud account or Pulumi CLI is needed.
 * The policy pack runs over the plan with `policy/<stack>.json`; its verdict is part of every
 * format (`--format sarif` gives only that verdict, as SARIF 2.1.0 for code scanning).
 * Exit codes: 0 planned, 5 a mandatory policy is violated (as `pulumi preview`), 1 the program
 * rejected the configuration, 2 bad command line.
 */
import "./fastStart"; // first: caches the compilation of everything imported after it
import { CATALOG } from "../components/catalog";
import { runAsScript, runTool, UsageError } from "./cli";
import { runOffline } from "./offlineRun";
import { Format, formatPlan, FORMATS, planDocument } from "./planFormat";
import { deployGraph, wavesOf } from "./planModel";
import { checkPolicies, exitCodeFor, loadPackConfig } from "./policyCheck";
import { listStacks, loadStackConfig } from "./stackConfig";

const USAGE = `usage: npm run plan -- --stack <${listStacks().join("|")}> [--format ${FORMATS.join("|")}]`;

function parseArgs(argv: string[]): { stack: string; format: Format } {
    let stack: string | undefined;
    let format: Format = "text";
    for (let i = 0; i < argv.length; i++) {
        const [flag, inline] = argv[i].split("=", 2);
        const value = inline ?? argv[++i];
        switch (flag) {
            case "--stack":
            case "-s":
                stack = value;
                break;
            case "--format":
                if (!(FORMATS as readonly string[]).includes(value)) throw new UsageError(`--format must be one of ${FORMATS.join(", ")}, not ${value}`);
                format = value as Format;
                break;
            default:
                throw new UsageError(`unknown argument ${argv[i]}`);
        }
    }
    if (!stack) throw new UsageError("--stack is required");
    return { stack, format };
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, parseArgs, async (args) => {
        const run = await runOffline(loadStackConfig(args.stack));
        const waves = wavesOf(deployGraph(run.resources, Object.keys(CATALOG.services)));
        const violations = await checkPolicies(run, loadPackConfig(args.stack));
        process.stdout.write(formatPlan(planDocument(run, waves, violations), args.format));
        return exitCodeFor(violations);
    });
}

runAsScript(module, main);
