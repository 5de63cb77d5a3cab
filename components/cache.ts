/**
 * The Redis tier: a private EC2 host provisioned with Redis 7 from Debian's packages, its
 * password a generated Pulumi secret handed over on standard input.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { remote } from "@pulumi/command";
import { DataHost, DataTierArgs, provisionDataHost } from "./dataHost";
import { REDIS_PORT, renderRedisScript } from "../host/data/redis";

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
        this.host = new DataHost(`${name}-host`, { ...args, role: "redis", port: REDIS_PORT }, { parent: this });
        // Letters and digits only: safe in a URL and in redis.conf without quoting.
        const password = new random.RandomPassword(`${name}-password`, { length: 40, special: false }, { parent: this });
        this.ready = provisionDataHost(`${name}-provision`, this.host, args,
            this.host.privateIp.apply((bindAddress) => renderRedisScript({ bindAddress, maxMemoryMb: args.maxMemoryMb, evictionPolicy: args.evictionPolicy })),
            password.result, this);
        this.address = this.host.privateIp;
        this.url = pulumi.secret(pulumi.interpolate`redis://:${password.result}@${this.host.privateIp}:${REDIS_PORT}`);
        this.registerOutputs({ address: this.address });
    }
}
