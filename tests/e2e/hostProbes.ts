/**
 * What the end-to-end tests read off a test host: its 19 units' state in one SSH round trip,
 * and HTTP answers from inside it (the services' ports and nginx's port 80 admit nobody from
 * outside, so the tests look from inside, as the health gate does).
 */
import { strict as assert } from "assert";
import { CATALOG, unitName } from "../../components/catalog";
import { TestHost } from "./testHost";

const ids = Object.keys(CATALOG.services);

export interface UnitState {
    active: string;
    enabled: string;
    pid: number;
    activeSinceUs: number;
}

/** All 19 units' state in one SSH round trip (from this machine: the runner's position). */
export async function unitStates(host: TestHost): Promise<Record<string, UnitState>> {
    const units = ids.map(unitName).join(" ");
    const result = await host.ssh(`systemctl show --property=Id,ActiveState,UnitFileState,MainPID,ActiveEnterTimestampMonotonic ${units}`);
    assert.equal(result.code, 0, result.stderr);
    const states: Record<string, UnitState> = {};
    for (const block of result.stdout.trim().split("\n\n")) {
        const p = Object.fromEntries(block.split("\n").map((line) => line.split(/=(.*)/s, 2)));
        states[p.Id.replace(/^pakashop-|\.service$/g, "")] = {
            active: p.ActiveState, enabled: p.UnitFileState, pid: Number(p.MainPID), activeSinceUs: Number(p.ActiveEnterTimestampMonotonic),
        };
    }
    return states;
}

export function parseCurl(out: string): { status: number; body: string } {
    const lines = out.split("\n");
    return { status: Number(lines.pop()), body: lines.join("\n") };
}

/**
 * GET on the host itself. The services' ports and nginx's port 80 admit nobody from outside
 * (no security group opens them), so the test looks from inside, as the health gate does.
 */
export async function httpGet(host: TestHost, port: number, urlPath: string, scheme = "http"): Promise<{ status: number; body: string }> {
    const result = await host.exec(["curl", "-ks", "--max-time", "5", "-w", "\n%{http_code}", `${scheme}://127.0.0.1:${port}${urlPath}`]);
    return parseCurl(result.stdout);
}
