/**
 * The rollout: remote steps pin host keys and keep secret-fed output out of logs; each host's
 * switch restarts the tiers of the seed's section 3.2 in order, onto releases prepared before
 * it; each stack deploys its own branch.
 */
import { PolicyResource } from "@pulumi/policy";
import { CATALOG } from "../components/catalog";
import { rolloutWaves } from "../components/rollout";
import { readSwitchCommands, readSwitchPlan, SwitchPlan } from "../host/switch/switchScript";
import { nameOf, ofType, Props, resourcePolicy, stackPolicy } from "./policyKit";

const REMOTE = "command:remote:Command";

/**
 * Why a host key line is not an Ed25519 public key, or nothing: `ssh-ed25519 <base64>
 * [comment]` whose base64 decodes to the wire blob (RFC 8709 section 4): string "ssh-ed25519",
 * then a 32-byte string, nothing after.
 */
export function hostKeyProblem(line: unknown): string | undefined {
    const match = /^ssh-ed25519 ([A-Za-z0-9+/]+={0,2})(?: [^\r\n]*)?\s*$/.exec(String(line));
    if (!match) return "is not an ssh-ed25519 key line";
    const blob = Buffer.from(match[1], "base64");
    if (blob.toString("base64").replace(/=+$/, "") !== match[1].replace(/=+$/, "")) return "is not valid base64";
    const type = "ssh-ed25519";
    if (blob.length !== 4 + type.length + 4 + 32) return `decodes to ${blob.length} bytes, not the 51 of an Ed25519 key`;
    if (blob.readUInt32BE(0) !== type.length || blob.subarray(4, 4 + type.length).toString("latin1") !== type) return "does not decode to an ssh-ed25519 key blob";
    if (blob.readUInt32BE(4 + type.length) !== 32) return "does not hold a 32-byte Ed25519 key";
    return undefined;
}

/** The service a prepare step builds, from its name `<rollout>-<service>-prepare`. */
function serviceOf(step: PolicyResource): string | undefined {
    const name = nameOf(step.urn);
    return name.endsWith("-prepare") ? Object.keys(CATALOG.services).find((id) => name.endsWith(`-${id}-prepare`)) : undefined;
}

/**
 * What a host's switch step does: the tiers and releases its commands switch (not only what its
 * plan line says), and whether that line says the same.
 */
function switchPlanOf(step: PolicyResource): { commands: SwitchPlan; planLineAgrees: boolean } | undefined {
    if (typeof step.props.create !== "string") return undefined;
    const commands = readSwitchCommands(step.props.create);
    if (!commands) return undefined;
    const line = readSwitchPlan(step.props.create);
    return { commands, planLineAgrees: JSON.stringify(line) === JSON.stringify(commands) };
}

/** The first trigger of a step (components/remoteStep.ts): plain facts, known in a preview. */
function summaryOf(step: PolicyResource): Record<string, unknown> | undefined {
    const triggers = step.props.triggers;
    return Array.isArray(triggers) && typeof triggers[0] === "object" && triggers[0] !== null ? triggers[0] : undefined;
}

/** What is wrong with a switch plan's tiers against section 3.2, or nothing. */
function tierOrderProblems(plan: SwitchPlan): string[] {
    const expected = rolloutWaves(CATALOG).map((wave) => ({ tier: wave.tier.id, services: [...wave.serviceIds].sort() }));
    const actual = plan.tiers.map((tier) => ({ tier: tier.tier, services: Object.keys(tier.services).sort() }));
    const problems: string[] = [];
    const order = (tiers: { tier: string }[]) => tiers.map((t) => t.tier).join(" -> ");
    if (order(actual) !== order(expected)) problems.push(`switches the tiers as ${order(actual)}; section 3.2 is ${order(expected)}.`);
    for (const want of expected) {
        const have = actual.find((t) => t.tier === want.tier);
        if (have && have.services.join(" ") !== want.services.join(" ")) {
            problems.push(`switches tier ${want.tier} as [${have.services.join(", ")}]; it holds [${want.services.join(", ")}].`);
        }
    }
    return problems;
}

export const rolloutPolicies = [
    resourcePolicy({
        name: "command-remote-enforce-host-key",
        description: "Checks that every remote command pins the host key of its host (and of any jump host it goes through), as a key that parses: ssh-ed25519 with a 51-byte Ed25519 blob.",
        severity: "critical",
        remediationSteps: "Set connection.hostKey (and connection.proxy.hostKey, should a step ever go through a jump host) to the key the host printed "
            + "to its console at first boot, as its host-key step read it (components/hostKey.ts).",
        // Copies of sources open SSH sessions too. In a preview of a new stack the whole
        // connection is unknown (@pulumi/command builds it with an apply over the host's
        // address and the key its host-key step reads): the engine reports this policy as not
        // run then, and it judges each step in `pulumi up`, before the step connects.
        types: [REMOTE, "command:remote:CopyToRemote"],
        check: (p) => {
            const problems: string[] = [];
            const judge = (key: unknown, host: unknown, what: string) => {
                if (!key) problems.push(`${what} ${host} has no hostKey; pin the host's key.`);
                else {
                    const why = hostKeyProblem(key);
                    if (why) problems.push(`${what} ${host} has hostKey ${JSON.stringify(String(key).slice(0, 40))}, which ${why}; pin the "ssh-ed25519 AAAA..." line the host printed.`);
                }
            };
            judge(p.connection?.hostKey, p.connection?.host, "connection to");
            if (p.connection?.proxy) judge(p.connection.proxy.hostKey, p.connection.proxy.host, "jump host");
            return problems;
        },
    }),
    resourcePolicy({
        name: "command-remote-disable-secret-logging",
        description: "Checks that a remote command fed secrets on stdin does not log its standard output.",
        severity: "high",
        remediationSteps: "Set logging to \"stderr\" or \"none\" on commands with stdin (components/remoteStep.ts does).",
        types: [REMOTE],
        // Whether a command is fed stdin is known in a preview even when what it is fed is not
        // (an environment file with database addresses and passwords is unknown then).
        check: (p: Props) => ("stdin" in p && !["stderr", "none"].includes(p.logging)
            ? `logging is ${JSON.stringify(p.logging ?? "stdoutAndStderr")} on a command fed secrets on stdin; set it to "stderr" or "none".` : undefined),
    }),
    stackPolicy({
        name: "pakashop-rollout-enforce-tier-order",
        description: "Checks that each host's switch restarts the tiers in the order of seed section 3.2, each with exactly its services, and only onto releases whose prepare steps it waits for.",
        severity: "critical",
        remediationSteps: "Keep the tiers in components/catalog.ts as section 3.2 lists them; ServiceRollout renders the switch plan from them and makes the switch wait for every prepare step.",
        check: (resources) => {
            const commands = ofType(resources, REMOTE);
            const prepareByUrn = new Map(commands.filter((r) => serviceOf(r)).map((r) => [r.urn, { service: serviceOf(r) as string, release: summaryOf(r)?.release }]));
            const violations: { message: string; urn: string }[] = [];
            for (const step of commands.filter((r) => nameOf(r.urn).endsWith("-switch"))) {
                const found = switchPlanOf(step);
                if (!found) {
                    violations.push({ urn: step.urn, message: `${nameOf(step.urn)} has no switch_tier commands or release table; switch steps must come from ServiceRollout.` });
                    continue;
                }
                const plan = found.commands;
                if (!found.planLineAgrees) {
                    violations.push({ urn: step.urn, message: `${nameOf(step.urn)}: its plan line (what reviewers and the plan read) differs from what its commands switch; render the switch from ServiceRollout.` });
                }
                for (const problem of tierOrderProblems(plan)) violations.push({ urn: step.urn, message: `${nameOf(step.urn)} ${problem}` });
                // The switch may only restart onto a release built before it: it waits for a
                // prepare step of exactly that release.
                const waitedFor = step.dependencies.map((dependency) => prepareByUrn.get(dependency.urn)).filter((p) => p !== undefined);
                for (const tier of plan.tiers) {
                    for (const [service, release] of Object.entries(tier.services)) {
                        if (!waitedFor.some((p) => p.service === service && p.release === release)) {
                            violations.push({ urn: step.urn, message: `${nameOf(step.urn)} switches ${service} to release ${release} without waiting for a prepare step of that release; add it to dependsOn.` });
                        }
                    }
                }
            }
            return violations;
        },
    }),
    stackPolicy<{ branch?: string }>({
        name: "pakashop-rollout-enforce-branch",
        description: "Checks that the stack deploys its own branch (production deploys production, staging deploys main).",
        severity: "critical",
        remediationSteps: "Set pakashop-infra:branch in Pulumi.<stack>.yaml to the stack's branch.",
        configSchema: { properties: { branch: { type: "string" } } },
        check: (resources, config) => {
            if (!config.branch) return [];
            // Each prepare step's first trigger names the branch its revision was checked
            // against (components/remoteStep.ts): plain text, known in a preview of a new stack.
            // (The switch restarts only releases those steps prepared.)
            const steps = ofType(resources, REMOTE).filter((r) => serviceOf(r));
            return steps.flatMap((step) => {
                const deployed = summaryOf(step)?.branch;
                if (deployed === config.branch) return [];
                return [{ urn: step.urn, message: deployed === undefined
                    ? `${nameOf(step.urn)} does not say which branch it deploys (triggers[0].branch); prepare steps must come from ServiceRollout.`
                    : `${nameOf(step.urn)} deploys branch ${deployed}; this stack deploys ${config.branch}.` }];
            });
        },
    }),
];
