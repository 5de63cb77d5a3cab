/**
 * SSH connections of the remote steps: key authentication, the host key pinned, and for
 * private hosts the backend host as jump host (`proxy`), the only machine allowed to reach them.
 */
import * as pulumi from "@pulumi/pulumi";
import { types } from "@pulumi/command";

/** One SSH endpoint. */
export interface SshEndpoint {
    readonly host: pulumi.Input<string>;
    /** The pinned host key line. */
    readonly hostKey: pulumi.Input<string>;
    readonly user: string;
    /** A Pulumi secret. */
    readonly privateKey: pulumi.Input<string>;
    /** @default 22 */
    readonly port?: number;
}

/**
 * The provider retries dials without a pause; the backend's ssh-ready step waits for its port
 * first, and private hosts get more retries since they are reached through the jump host.
 */
const DIAL = { direct: { dialErrorLimit: 20, perDialTimeout: 15 }, proxied: { dialErrorLimit: 60, perDialTimeout: 15 } };

export function sshConnection(target: SshEndpoint, jumpHost?: SshEndpoint): types.input.remote.ConnectionArgs {
    const endpoint = (e: SshEndpoint) => ({ host: e.host, port: e.port ?? 22, user: e.user, privateKey: e.privateKey, hostKey: e.hostKey });
    return jumpHost
        ? { ...endpoint(target), ...DIAL.proxied, proxy: { ...endpoint(jumpHost), ...DIAL.direct } }
        : { ...endpoint(target), ...DIAL.direct };
}
