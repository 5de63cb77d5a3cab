/** The drift check as a function: expected state, one SSH round trip per host, a report per host. */
import { readSettings } from "../../components/settings";
import { serviceTrees } from "../../components/sources";
import { releaseIdOf } from "../../host/prepare/prepareScript";
import { remoteInvocation } from "../../host/shell";
import { configSource } from "../configSource";
import { runOverSsh, SshTarget } from "../ssh";
import { StackConfig } from "../stackConfig";
import { expectedHostState, parseProbeOutput, renderProbeScript, ServiceState } from "./hostState";
import { compareHostState, DriftReport } from "./report";

/** Exit code on drift, as `pulumi preview --expect-no-changes` uses. */
export const DRIFT_EXIT_CODE = 7;

/** One host of the fleet to check: its name (`backend-<n>`) and how to reach it. */
export interface NamedTarget {
    readonly name: string;
    readonly target: SshTarget;
}

/** A host's report in a fleet check: its drift report, or why it could not be checked. */
export type FleetHostReport = (DriftReport & { readonly name: string }) | { readonly name: string; readonly host: string; readonly error: string };

/** The whole fleet's check: drift when any host drifted; `failed` when any host could not be checked. */
export interface FleetDriftReport {
    readonly stack: string;
    readonly drift: boolean;
    readonly failed: boolean;
    readonly hosts: FleetHostReport[];
}

/**
 * What every backend host should run. Which release each service should run comes from its
 * folder's content at the recorded revision, so the check needs the monorepo clone a deploy
 * needs (PAKASHOP_SERVICES_REPO). Computed once for the fleet: every host runs the same.
 * @param env where PAKASHOP_SERVICES_REPO is read from
 */
export function expectedFleetState(stackConfig: StackConfig, env: NodeJS.ProcessEnv = process.env): ServiceState[] {
    const settings = readSettings(configSource(stackConfig), stackConfig.stack);
    const resolved = serviceTrees({ projectDir: process.cwd(), branch: settings.branch, serviceRevisions: settings.serviceRevisions, env });
    if (!resolved) throw new Error("the drift check needs a clone of the services monorepo in PAKASHOP_SERVICES_REPO");
    const releases = Object.fromEntries(Object.entries(resolved.trees).map(([id, tree]) => [id, releaseIdOf(settings.catalog.services[id], tree)]));
    return expectedHostState(settings, releases);
}

/** Probes one host (one SSH round trip) and compares it with `expected`. */
async function probeHost(stack: string, expected: readonly ServiceState[], target: SshTarget): Promise<DriftReport> {
    const probe = renderProbeScript(expected.map((s) => s.service));
    const result = await runOverSsh(target, remoteInvocation(probe, target.user), 120);
    if (result.exitCode !== 0) {
        throw new Error(`drift probe on ${target.host} failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
    }
    return compareHostState(stack, target.host, expected, parseProbeOutput(result.stdout));
}

/**
 * @param env where PAKASHOP_SERVICES_REPO is read from
 */
export async function checkHostDrift(stackConfig: StackConfig, target: SshTarget, env: NodeJS.ProcessEnv = process.env): Promise<DriftReport> {
    return probeHost(stackConfig.stack, expectedFleetState(stackConfig, env), target);
}

/**
 * Checks every host of the fleet, one after the other (each is one SSH session), and reports
 * each by name. A host that can't be reached or probed is reported with its error and the
 * others are still checked: one dead host must not hide another's drift.
 * @param probe how one host is probed (tests replace it)
 */
export async function checkFleetDrift(stack: string, expected: readonly ServiceState[], hosts: readonly NamedTarget[],
    probe: (target: SshTarget) => Promise<DriftReport> = (target) => probeHost(stack, expected, target)): Promise<FleetDriftReport> {
    const reports: FleetHostReport[] = [];
    for (const { name, target } of hosts) {
        try {
            reports.push({ name, ...(await probe(target)) });
        } catch (error) {
            reports.push({ name, host: target.host, error: error instanceof Error ? error.message : String(error) });
        }
    }
    return {
        stack,
        drift: reports.some((r) => "drift" in r && r.drift),
        failed: reports.some((r) => "error" in r),
        hosts: reports,
    };
}
