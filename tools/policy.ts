/**
 * `npm run policy -- --plan FILE [--stack NAME] [--format text|json|markdown|sarif]`
 *
 * Judges a plan someone wrote with `npm run plan -- --format json` again, with this checkout's
 * policy pack and `policy/<stack>.json`, without running the program: a reviewer checks the
 * plan they were given, and tests mutate a real plan to see that the pack catches what it
 * exists to stop (tests/policyMutations.spec.ts). The offline counterpart of
 * `pulumi policy analyze --file` (which judges a `pulumi stack export` state file).
 *
 * The verdict is the one `npm run plan` gives for the same run: the policies get the same
 * arguments (tools/policyCheck.ts), "[unknown]" in the plan is an unknown again (a policy that
 * touches one is "can't run ... during preview", as in the live run), and a value the plan
 * hides as "[secret]" is a value the policies cannot see: a policy that touches one is reported
 * as advisory "can't run ... over the saved plan", never passed or failed on it. The plan hides
 * only secret leaves (tools/planFormat.ts), so this happens only to policies that read a secret;
 * what a preview can't know (a remote step's whole `connection`) is "[unknown]" there, not "[secret]".
 *
 * Prints the plan with this verdict in place of the one saved in it, in any format of
 * `npm run plan` (the JSON is again a plan this command reads). `--stack` (optional) names the
 * stack the reviewer expects: the plan must be that stack's.
 * Exit codes as `npm run plan`: 0 no mandatory violation, 5 a mandatory policy is violated,
 * 1 the file is not such a plan (one line naming the file and the problem), 2 bad command line.
 */
import * as fs from "fs";
import { choiceFlag, parseFlags, runAsScript, runTool, UsageError } from "./cli";
import { Format, formatPlan, FORMATS, PlanDocument } from "./planFormat";
import { checkPlanShape, PlanFileError, savedPlanRun, switchWaves } from "./planModel";
import { checkPolicies, exitCodeFor, loadPackConfig, Violation } from "./policyCheck";
import { listStacks } from "./stackConfig";

const readableStackList = () => listStacks().join(", ");

const USAGE = `usage: npm run policy -- --plan FILE [--stack <${listStacks().join("|")}>] [--format ${FORMATS.join("|")}]`;

interface Args {
    readonly plan: string;
    readonly stack?: string;
    readonly format: Format;
}

function parseArgs(argv: string[]): Args {
    const flags = parseFlags(argv, { "--plan": "plan", "--stack": "stack", "-s": "stack", "--format": "format" });
    if (!flags.plan) throw new UsageError("--plan is required");
    return { plan: flags.plan, stack: flags.stack, format: choiceFlag("--format", flags.format, FORMATS, "text") };
}

/** The verdict on a saved plan: the plan with it in place of the saved one, and the exit code. */
export interface Judgement {
    readonly doc: PlanDocument;
    readonly violations: Violation[];
    readonly exitCode: number;
}

/**
 * Judges a parsed plan document (what `npm run policy -- --plan` does once it has read the
 * file; the mutation tests call it directly). Throws {@link PlanFileError} when the document
 * is not a plan of a stack of this project.
 */
export async function judgePlan(parsed: unknown, expectedStack?: string): Promise<Judgement> {
    const doc = checkPlanShape<PlanDocument>(parsed);
    const stacks = listStacks();
    if (!stacks.includes(doc.stack)) throw new PlanFileError(`plan.stack: no stack ${doc.stack} here (no Pulumi.${doc.stack}.yaml; stacks here: ${readableStackList()})`);
    if (expectedStack !== undefined && expectedStack !== doc.stack) throw new PlanFileError(`plan.stack: the plan is for stack ${doc.stack}, not ${expectedStack}`);
    const run = savedPlanRun(doc);
    const violations = await checkPolicies(run, loadPackConfig(doc.stack));
    const waves = switchWaves(run.resources);
    return { doc: { ...doc, rollout: { ...doc.rollout, waves }, policies: { violations } }, violations, exitCode: exitCodeFor(violations) };
}

/** Reads and parses the plan file; every failure is one line naming the file. */
function readPlan(file: string): unknown {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new Error(`plan ${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : `can't be read (${code ?? (error as Error).message})`}`);
    }
    try {
        return JSON.parse(text);
    } catch (error) {
        throw new Error(`plan ${file}: not JSON (${(error as Error).message.split("\n")[0]}); write it with npm run plan -- --stack <stack> --format json`);
    }
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, parseArgs, async (args) => {
        if (args.stack !== undefined && !listStacks().includes(args.stack)) {
            throw new Error(`no stack file Pulumi.${args.stack}.yaml; stacks here: ${readableStackList()}`);
        }
        let judgement: Judgement;
        try {
            judgement = await judgePlan(readPlan(args.plan), args.stack);
        } catch (error) {
            if (error instanceof PlanFileError) throw new Error(`plan ${args.plan}: ${error.message}`);
            throw error;
        }
        process.stdout.write(formatPlan(judgement.doc, args.format));
        return judgement.exitCode;
    });
}

runAsScript(module, main);
