/** The drift check as a function: expected state, one SSH round trip, report. */
import { readSettings } from "../../components/settings";
import { remoteInvocation } from "../../host/shell";
import { configSource } from "../configSource";
import { runOverSsh, SshTarget } from "../ssh";
import { StackConfig } from "../stackConfig";
import { expectedHostState, parseProbeOutput, renderProbeScript } from "./hostState";
import { compareHostState, DriftReport } from "./report";

/** Exit code on drift, as `pulumi preview --expect-no-changes` uses. */
export const DRIFT_EXIT_CODE = 7;

export async function checkHostDrift(stackConfig: StackConfig, target: SshTarget): Promise<DriftReport> {
    const settings = readSettings(configSource(stackConfig), stackConfig.stack);
    const expected = expectedHostState(settings);
    const probe = renderProbeScript(expected.map((s) => s.service));
    const result = await runOverSsh(target, remoteInvocation(probe, target.user), 120);
    if (result.exitCode !== 0) {
        throw new Error(`drift probe on ${target.host} failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
    }
    return compareHostState(stackConfig.stack, target.host, expected, parseProbeOutput(result.stdout));
}
