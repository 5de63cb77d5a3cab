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

const MODES = ["preview", "applied"] as const;
type Mode = (typeof MODES)[number];

const USAGE = `usage: npm run plan -- --stack <${listStacks().join("|")}> [--format ${FORMATS.join("|")}] [--mode ${MODES.join("|")}]`;

function parseArgs(argv: string[]): { stack: string; format: Format; mode: Mode } {
    let stack: string | undefined;
    let format: Format = "text";
    let mode: Mode = "preview";
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
            case "--mode":
                if (!(MODES as readonly string[]).includes(value)) throw new UsageError(`--mode must be one of ${MODES.join(", ")}, not ${value}`);
                mode = value as Mode;
                break;
            default:
                throw new UsageError(`unknown argument ${argv[i]}`);
        }
    }
    if (!stack) throw new UsageError("--stack is required");
    return { stack, format, mode };
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, parseArgs, async (args) => {
        const run = await runOffline(loadStackConfig(args.stack), { preview: args.mode === "preview" });
        const waves = wavesOf(deployGraph(run.resources, Object.keys(CATALOG.services)));
        const violations = await checkPolicies(run, loadPackConfig(args.stack));
        process.stdout.write(formatPlan(planDocument(run, waves, violations), args.format));
        return exitCodeFor(violations);
    });
}

runAsScript(module, main);
