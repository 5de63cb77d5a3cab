/**
 * Test helper: rewrites the switch plan a switch step's script carries, for tests that break a
 * plan on purpose (policy tests). It edits the line the way a hand edit of the script would.
 */
import { readSwitchPlan, SWITCH_PLAN_MARKER, SwitchPlan } from "../../host/switch/switchScript";

export function editSwitchPlan(create: string, edit: (plan: SwitchPlan) => void): string {
    const plan = readSwitchPlan(create);
    if (!plan) throw new Error("editSwitchPlan: the script carries no switch plan");
    edit(plan);
    const lines = create.split("\n");
    const at = lines.findIndex((line) => line.startsWith(SWITCH_PLAN_MARKER));
    if (at < 0) throw new Error("editSwitchPlan: no plan line");
    lines[at] = `${SWITCH_PLAN_MARKER}${JSON.stringify(plan)}`;
    return lines.join("\n");
}

/** Swaps two `switch_tier` command lines of a switch script (what runs, not its plan line). */
export function swapSwitchTierCalls(create: string, first: number, second: number): string {
    const lines = create.split("\n");
    const calls = lines.map((line, i) => (line.startsWith("switch_tier ") ? i : -1)).filter((i) => i >= 0);
    if (calls.length <= Math.max(first, second)) throw new Error("swapSwitchTierCalls: not that many switch_tier lines");
    [lines[calls[first]], lines[calls[second]]] = [lines[calls[second]], lines[calls[first]]];
    return lines.join("\n");
}

/** The folders a switch script works in, for running it on a stand-in host. */
export interface SwitchRoots {
    readonly services: string;
    readonly units: string;
    readonly env: string;
    readonly run: string;
}

/** A rendered switch script pointed at temporary folders instead of the host's (host/layout.ts). */
export function switchOnRoots(script: string, roots: SwitchRoots): string {
    const rewrites: [string, string][] = [
        ["services_root='/opt/pakashop/services'", `services_root='${roots.services}'`],
        ["unit_dir='/etc/systemd/system'", `unit_dir='${roots.units}'`],
        ["env_dir='/etc/pakashop'", `env_dir='${roots.env}'`],
        ["runtime_dir='/run/pakashop'", `runtime_dir='${roots.run}'`],
    ];
    return rewrites.reduce((text, [from, to]) => {
        if (!text.includes(from)) throw new Error(`switchOnRoots: the script has no ${from}`);
        return text.replace(from, to);
    }, script);
}
