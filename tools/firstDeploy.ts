/**
 * The first deploy of a new stack, before its in-VPC runner exists: the deploy workflow's jobs
 * run on that runner, and the hosts admit SSH from nothing else, so the runner (and what it
 * stands on) has to come first, from an engineer's machine with AWS credentials only.
 *
 *   npm run -s first-deploy -- --stack <stack>          # prints the pulumi command
 *   npm run -s first-deploy -- --stack <stack> --run    # runs it (needs the Pulumi CLI)
 *
 * The run is the program in its first-deploy mode (`PAKASHOP_FIRST_DEPLOY=<stack>`,
 * components/firstDeployMode.ts): it registers the foundation only (network, deploy runner,
 * Instance Connect Endpoint, GitHub roles), packs no sources and calls no Cloudflare or Vercel
 * function, so AWS credentials and `pulumi login` are all it needs. On top of that every
 * resource is named with `--target` ("--target: Specify a single resource URN to update. Other
 * resources will not be updated", pulumi up CLI docs), computed from the program itself under
 * mocks, and `--run` refuses a stack whose outputs show a full deploy. (The mode itself can't
 * see `--target`: an untargeted `pulumi up` with the variable set would plan to delete the
 * tiers, which is why only this tool sets it and the variable must name the stack.) The targets are checked to hold no remote command, Cloudflare or Vercel
 * resource. Everything else (hosts, database, rollout, edge) comes with the first full deploy
 * by the workflow, on the runner.
 */
import { spawnSync } from "child_process";
import { runAsScript, runTool, UsageError } from "./cli";
import { FIRST_DEPLOY_ENV } from "../components/firstDeployMode";
import { PlannedResource, runOffline } from "./offlineRun";
import { loadStackConfig, listStacks } from "./stackConfig";

const USAGE = "usage: npm run -s first-deploy -- --stack <stack> [--run]";

/** The components the runner needs to exist, by type. */
export const FIRST_DEPLOY_COMPONENTS = [
    "pakashop:network:Network",
    "pakashop:ci:DeployRunner",
    "pakashop:access:InstanceConnect",
    "pakashop:ci:GithubAccess",
] as const;

/** Resource types that need more than AWS's APIs (SSH, Cloudflare, Vercel): never a first-deploy target. */
const NOT_AWS_ONLY = /^(command|cloudflare|vercel):/;

/**
 * The URNs to target: the listed components, everything under them, and their ancestors
 * (a resource's parent must exist for it to be created).
 */
export function firstDeployTargets(resources: readonly PlannedResource[]): string[] {
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const roots = resources.filter((r) => (FIRST_DEPLOY_COMPONENTS as readonly string[]).includes(r.type));
    const missing = FIRST_DEPLOY_COMPONENTS.filter((type) => !roots.some((r) => r.type === type));
    if (missing.length > 0) throw new Error(`first-deploy: the program has no ${missing.join(", ")}; update FIRST_DEPLOY_COMPONENTS in tools/firstDeploy.ts`);
    const chosen = new Set<string>();
    const under = (urn: string): boolean => {
        for (let r = byUrn.get(urn); r; r = r.parent ? byUrn.get(r.parent) : undefined) {
            if (roots.some((root) => root.urn === r!.urn)) return true;
        }
        return false;
    };
    for (const r of resources) {
        if (!under(r.urn)) continue;
        for (let a: PlannedResource | undefined = r; a; a = a.parent ? byUrn.get(a.parent) : undefined) chosen.add(a.urn);
        for (const dep of r.dependsOn) chosen.add(dep);
    }
    const offending = [...chosen].map((urn) => byUrn.get(urn)).filter((r): r is PlannedResource => r !== undefined && NOT_AWS_ONLY.test(r.type));
    if (offending.length > 0) throw new Error(`first-deploy: the targets include ${offending.map((r) => r.name).join(", ")}, which need more than AWS's APIs`);
    // In registration order, which the program's parents-first order guarantees is creatable.
    return resources.map((r) => r.urn).filter((urn) => chosen.has(urn) && !byUrn.get(urn)!.type.startsWith("pulumi:pulumi:Stack"));
}

/**
 * The URN the engine gives each resource. Its type part is the whole chain of parent types
 * down to the resource, without the root stack's type (`@pulumi/pulumi` resource.js
 * `createUrn`: the parent's URN up to its name, then `$<type>`; "Don't prefix the stack type as
 * a parent type"). The SDK's mock monitor shortens the chain to the immediate parent's type
 * (runtime/mocks.js `newUrn`), so the planned URNs are rebuilt here from the parents.
 */
export function engineUrns(resources: readonly PlannedResource[]): Map<string, string> {
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const qualified = new Map<string, string>();
    const qualifiedType = (r: PlannedResource): string => {
        const known = qualified.get(r.urn);
        if (known) return known;
        const parent = r.parent ? byUrn.get(r.parent) : undefined;
        const type = !parent || parent.type === "pulumi:pulumi:Stack" ? r.type : `${qualifiedType(parent)}$${r.type}`;
        qualified.set(r.urn, type);
        return type;
    };
    return new Map(resources.map((r) => {
        const prefix = /^urn:pulumi:[^:]+::[^:]+::/.exec(r.urn);
        if (!prefix) throw new Error(`first-deploy: not a URN: ${r.urn}`);
        return [r.urn, `${prefix[0]}${qualifiedType(r)}::${r.name}`];
    }));
}

/** The command line (URNs hold `$` and `::`: print them single-quoted). */
export function firstDeployCommand(stack: string, targets: readonly string[], resources: readonly PlannedResource[]): string[] {
    const urns = engineUrns(resources);
    return ["pulumi", "up", "--stack", stack, ...targets.flatMap((urn) => ["--target", urns.get(urn) ?? urn])];
}

/** The outputs a first deploy leaves (index.ts, `deployFoundation`). */
export const FOUNDATION_OUTPUTS: readonly string[] = ["branch", "deployRoleArn", "instanceConnectEndpointId", "readOnlyRoleArn", "runnerProjectName", "vpcId"];

/**
 * Why a stack must not get a first deploy, or undefined. A stack whose outputs go beyond the
 * foundation's has had a full deploy. Foundation outputs alone are allowed: a first deploy that
 * failed half-way keeps what it registered (Pulumi records the outputs of a failed update), and
 * the same command must be able to finish it.
 */
export function deployedStackProblem(stack: string, outputs: Record<string, unknown>): string | undefined {
    const beyond = Object.keys(outputs).filter((key) => !FOUNDATION_OUTPUTS.includes(key)).sort();
    return beyond.length === 0 ? undefined
        : `stack ${stack} has had a full deploy (it has outputs ${beyond.join(", ")}); a first deploy there would only shrink what the program manages, so its deploys run from the deploy workflow`;
}

/** Reads the stack's outputs with the Pulumi CLI and stops if {@link deployedStackProblem} says so. */
function refuseDeployedStack(stack: string): void {
    const result = spawnSync("pulumi", ["stack", "output", "--json", "--stack", stack], { encoding: "utf8" });
    if (result.error) throw new Error(`could not run pulumi (${result.error.message}); install the Pulumi CLI and run pulumi login`);
    if (result.status !== 0) throw new Error(`pulumi stack output --stack ${stack} failed: ${result.stderr.trim().split("\n").pop()} (create the stack first: pulumi stack init ${stack})`);
    const problem = deployedStackProblem(stack, JSON.parse(result.stdout || "{}") as Record<string, unknown>);
    if (problem) throw new Error(problem);
}

interface Args { stack: string; run: boolean }

function parseArgs(argv: string[]): Args {
    let stack: string | undefined;
    let run = false;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--stack") stack = argv[++i];
        else if (argv[i] === "--run") run = true;
        else throw new UsageError(`unknown argument ${argv[i]}`);
    }
    if (!stack) throw new UsageError("--stack is required");
    const stacks = listStacks();
    if (!stacks.includes(stack)) throw new UsageError(`--stack ${stack}: no Pulumi.${stack}.yaml here (stacks: ${stacks.join(", ")})`);
    return { stack, run };
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, parseArgs, async (args) => {
        // A preview of a new stack in first-deploy mode: nothing exists yet, no sources are packed.
        const plan = await runOffline(loadStackConfig(args.stack), { preview: true, firstDeploy: true });
        const command = firstDeployCommand(args.stack, firstDeployTargets(plan.resources), plan.resources);
        if (!args.run) {
            process.stdout.write(`# Only for a stack without a full deploy (--run checks: pulumi stack output may show no key beyond ${FOUNDATION_OUTPUTS.join(", ")}).\n`);
            process.stdout.write(`${FIRST_DEPLOY_ENV}=${args.stack} ${command.map((part) => (part.startsWith("urn:") ? `'${part}'` : part)).join(" \\\n    ")}\n`);
            return 0;
        }
        refuseDeployedStack(args.stack);
        const result = spawnSync(command[0], command.slice(1), { stdio: "inherit", env: { ...process.env, [FIRST_DEPLOY_ENV]: args.stack } });
        if (result.error) throw new Error(`could not run pulumi (${result.error.message}); install the Pulumi CLI or run the printed command yourself`);
        return result.status ?? 1;
    });
}

runAsScript(module, main);
