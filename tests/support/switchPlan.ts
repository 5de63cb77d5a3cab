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
