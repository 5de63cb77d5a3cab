/**
 * Reads the fleet for `npm run drift -- --hosts <file>`: the JSON that
 * `pulumi stack output backendHosts --json` prints (index.ts `backendHosts`), an array of
 * `{ name, instanceId, privateIp, hostKey, availabilityZone }`. Only what the check needs is
 * validated (name, address, host key); a bad file is refused naming the entry and the field.
 */
import * as ipaddr from "ipaddr.js";

/** One host as the stack output lists it. */
export interface FleetHost {
    /** `backend-<n>`. */
    readonly name: string;
    readonly privateIp: string;
    /** The pinned host key line (`ssh-ed25519 AAAA...`). */
    readonly hostKey: string;
}

const NAME = /^backend-[1-9][0-9]*$/;
const HOST_KEY = /^ssh-ed25519 [A-Za-z0-9+/]+={0,2}$/;

/** Parses the hosts file's text; `source` names the file in errors. */
export function parseFleetHosts(text: string, source: string): FleetHost[] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (error) {
        throw new Error(`${source}: not JSON (${(error as Error).message}); write it with pulumi stack output backendHosts --json > ${source}`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0) {
        throw new Error(`${source}: must be a non-empty JSON array of hosts (pulumi stack output backendHosts --json), not ${JSON.stringify(parsed)?.slice(0, 80)}`);
    }
    const hosts = parsed.map((entry: unknown, i: number): FleetHost => {
        const at = `${source}[${i}]`;
        if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw new Error(`${at}: must be an object with name, privateIp and hostKey`);
        const { name, privateIp, hostKey } = entry as Record<string, unknown>;
        if (typeof name !== "string" || !NAME.test(name)) throw new Error(`${at}.name: must be backend-<n>, not ${JSON.stringify(name)}`);
        if (typeof privateIp !== "string" || !ipaddr.IPv4.isValidFourPartDecimal(privateIp)) {
            throw new Error(`${at}.privateIp: must be the host's private IPv4 address, not ${JSON.stringify(privateIp)}`);
        }
        if (typeof hostKey !== "string" || !HOST_KEY.test(hostKey.trim())) {
            throw new Error(`${at}.hostKey: must be the host's pinned ssh-ed25519 key line, not ${JSON.stringify(hostKey)?.slice(0, 40)}`);
        }
        return { name, privateIp, hostKey: hostKey.trim() };
    });
    const names = hosts.map((h) => h.name);
    const repeated = names.find((n, i) => names.indexOf(n) !== i);
    if (repeated) throw new Error(`${source}: lists ${repeated} twice; each host once`);
    return hosts;
}
