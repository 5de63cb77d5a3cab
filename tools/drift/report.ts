/**
 * Compares the expected and the probed host state into a drift report: one finding per field
 * that differs, plus pakashop units on the host that the program does not deploy.
 */
import { ProbeResult, ServiceState } from "./hostState";
import { FLEET_HEALTH_UNIT } from "../../host/health/fleetHealth";

/** pakashop units the program installs besides the services' (the proxy step's health server). */
const PLATFORM_UNITS: readonly string[] = [FLEET_HEALTH_UNIT];

const FIELDS = ["unitFile", "enabled", "active", "release"] as const;

export interface Finding {
    readonly service: string;
    readonly unit: string;
    /** What differs: a field of {@link ServiceState}, or `unexpectedUnit`. */
    readonly field: (typeof FIELDS)[number] | "unexpectedUnit";
    readonly expected: string;
    readonly actual: string;
}

export interface DriftReport {
    readonly stack: string;
    readonly host: string;
    readonly drift: boolean;
    /** Services compared. */
    readonly checked: number;
    readonly findings: Finding[];
}

export function compareHostState(stack: string, host: string, expected: readonly ServiceState[], probed: ProbeResult): DriftReport {
    const actualByService = new Map(probed.services.map((s) => [s.service, s]));
    const findings: Finding[] = [];
    for (const want of expected) {
        const have = actualByService.get(want.service);
        if (!have) throw new Error(`the probe did not report ${want.service}`);
        for (const field of FIELDS) {
            if (want[field] !== have[field]) {
                findings.push({ service: want.service, unit: want.unit, field, expected: want[field], actual: have[field] });
            }
        }
    }
    const expectedUnits = new Set([...expected.map((s) => s.unit), ...PLATFORM_UNITS]);
    for (const unit of probed.unitFiles.filter((u) => !expectedUnits.has(u))) {
        findings.push({ service: unit.replace(/^pakashop-|\.service$/g, ""), unit, field: "unexpectedUnit", expected: "absent", actual: "present" });
    }
    return { stack, host, drift: findings.length > 0, checked: expected.length, findings };
}
