/** The drift check as a function: expected state, one SSH round trip, report. */
import { readSettings } from "../../components/settings";
import { serviceTrees } from "../../components/sources";
import { releaseIdOf } from "../../host/prepare/prepareScript";
import { remoteInvocation } from "../../host/shell";
import { configSource } from "../configSource";
import { runOverSsh, SshTarget } from "../ssh";
import { StackConfig } from "../stackConfig";
import { expectedHostState, parseProbeOutput, renderProbeScript } from "./hostState";
import { compareHostState, DriftReport } from "./report";

/** Exit code on drift, as `pulumi preview --expect-no-changes` uses. */
export const DRIFT_EXIT_CODE = 7;

/**
 * @param env where PAKASHOP_SERVICES_REPO is read from
 */
export async function checkHostDrift(stackConfig: StackConfig, target: SshTarget, env: NodeJS.ProcessEnv = process.env): Promise<DriftReport> {
    const settings = readSettings(configSource(stackConfig), stackConfig.stack);
    // Which release each service should run comes from its folder's content at the recorded
    // revision, so the check needs the monorepo clone a deploy needs (PAKASHOP_SERVICES_REPO).
    const resolved = serviceTrees({ projectDir: process.cwd(), branch: settings.branch, serviceRevisions: settings.serviceRevisions, env });
    if (!resolved) throw new Error("the drift check needs a clone of the services monorepo in PAKASHOP_SERVICES_REPO");
    const releases = Object.fromEntries(Object.entries(resolved.trees).map(([id, tree]) => [id, releaseIdOf(settings.catalog.services[id], tree)]));
    const expected = expectedHostState(settings, releases);
    const probe = renderProbeScript(expected.map((s) => s.service));
    const result = await runOverSsh(target, remoteInvocation(probe, target.user), 120);
    if (result.exitCode !== 0) {
        throw new Error(`drift probe on ${target.host} failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
    }
    return compareHostState(stackConfig.stack, target.host, expected, parseProbeOutput(result.stdout));
}
