/**
 * SSH connections of the remote steps: key authentication and the host key pinned. They run
 * on the in-VPC runner, the only machine (with the Instance Connect Endpoint) the hosts admit.
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
 * The provider retries dials without a pause. Every host is reached directly at its private
 * address from the in-VPC runner, once its console showed its host key (cloud-init's final
 * stage, after sshd started) and, for the backend host, once its port answers (ssh-ready).
 */
const DIAL = { dialErrorLimit: 20, perDialTimeout: 15 };

export function sshConnection(target: SshEndpoint): types.input.remote.ConnectionArgs {
    return { host: target.host, port: target.port ?? 22, user: target.user, privateKey: target.privateKey, hostKey: target.hostKey, ...DIAL };
}
