/**
 * The Redis tier: a private EC2 host provisioned with Redis 7 from Debian's packages, its
 * password a generated Pulumi secret handed over on standard input.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { remote } from "@pulumi/command";
import { sshConnection } from "./connection";
import { DataHost, DataTierArgs } from "./dataHost";
import { remoteStep } from "./remoteStep";
import { REDIS_PORT, renderRedisScript } from "./scripts/redis";

/** Arguments of {@link Cache}. */
export interface CacheArgs extends DataTierArgs {
    /** Redis `maxmemory`, in MB. */
    readonly maxMemoryMb: number;
    /** Redis `maxmemory-policy`. */
    readonly evictionPolicy: string;
}

export class Cache extends pulumi.ComponentResource {
    public readonly host: DataHost;
    /** `redis://:<password>@<address>:6379`, secret. */
    public readonly url: pulumi.Output<string>;
    public readonly address: pulumi.Output<string>;
    /** Done when Redis answers PING with the password: section 3.2's step 1 for Redis. */
    public readonly ready: remote.Command;

    constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:data:Cache", name, {}, opts);
        this.host = new DataHost(`${name}-host`, {
            stack: args.stack, role: "redis", vpcId: args.vpcId, subnetId: args.subnetId, instanceType: args.instanceType,
            architecture: args.architecture, port: REDIS_PORT, clientSecurityGroupId: args.clientSecurityGroupId, deployPublicKey: args.deployPublicKey,
        }, { parent: this });
        // Letters and digits only: safe in a URL and in redis.conf without quoting.
        const password = new random.RandomPassword(`${name}-password`, { length: 40, special: false }, { parent: this });
        this.ready = remoteStep(`${name}-provision`, {
            connection: sshConnection({ host: this.host.privateIp, hostKey: this.host.hostPublicKey, user: args.sshUser, privateKey: args.privateKey }, args.jumpHost),
            sshUser: args.sshUser,
            script: this.host.privateIp.apply((bindAddress) => renderRedisScript({ bindAddress, maxMemoryMb: args.maxMemoryMb, evictionPolicy: args.evictionPolicy })),
            stdin: password.result,
        }, { parent: this, dependsOn: [this.host, ...args.provisionAfter] });
        this.address = this.host.privateIp;
        this.url = pulumi.secret(pulumi.interpolate`redis://:${password.result}@${this.host.privateIp}:${REDIS_PORT}`);
        this.registerOutputs({ address: this.address });
    }
}
