/**
 * One backend host of the fleet (components/backendFleet.ts): Debian 13, IMDSv2 only, an
 * encrypted gp3 root volume, in a private subnet with no public address at all (no Elastic IP,
 * `associatePublicIpAddress: false`): the internet reaches it only through the load balancer
 * (components/loadBalancer.ts), and deploys reach it from the in-VPC runner. The security group
 * is the fleet's, shared by every host and passed in. Its SSH host key is read from its console
 * (components/hostKey.ts), so every remote command pins it from the first connection on.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Architecture, debianImage, hardenedInstanceArgs, hostUserData, IGNORE_IMAGE_UPDATES, instanceResourceName } from "./ec2Host";
import { consoleHostKey } from "./hostKey";
import { resourceTags } from "./tags";

/** The `Role` tag of every backend host: the zone-spread policy counts the instances carrying it. */
export const BACKEND_ROLE = "backend";

/** Arguments of {@link BackendHost}. */
export interface BackendHostArgs {
    /** The stack name, for tags. */
    readonly stack: string;
    /** The host's ordinal in the fleet (1-based): its identity, in its `Name` tag. */
    readonly ordinal: number;
    /** The private subnet the host goes in. */
    readonly subnetId: pulumi.Input<string>;
    /**
     * The subnet's availability zone, set on the instance explicitly (EC2 would take it from the
     * subnet anyway): that way it is an input known at preview, which the fleet's zone-spread
     * policy reads, and a mismatch with the subnet fails at EC2 instead of passing silently.
     */
    readonly availabilityZone: pulumi.Input<string>;
    /** The fleet's security group (SSH from the runner and Instance Connect, HTTPS from the load balancer). */
    readonly securityGroupId: pulumi.Input<string>;
    /** EC2 instance type, e.g. `t3.large`. */
    readonly instanceType: string;
    /** CPU architecture of the instance type; picks the Debian image. */
    readonly architecture: Architecture;
    /** Size of the encrypted gp3 root volume. */
    readonly rootVolumeSizeGiB: number;
    /** OpenSSH public key authorized for the image's default user. */
    readonly deployPublicKey: string;
}

export class BackendHost extends pulumi.ComponentResource {
    /** The instance. */
    public readonly instance: aws.ec2.Instance;
    /** The instance id: it changes exactly when the host is replaced, so every step on it re-runs. */
    public readonly instanceId: pulumi.Output<string>;
    /** The address deploys (from the in-VPC runner) connect to, and other tiers see the host from. */
    public readonly privateIp: pulumi.Output<string>;
    /** The pinned SSH host key line (`ssh-ed25519 AAAA...`). */
    public readonly hostPublicKey: pulumi.Output<string>;
    /** The zone the host runs in. */
    public readonly availabilityZone: pulumi.Output<string>;

    constructor(name: string, args: BackendHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:hosts:BackendHost", name, {}, opts);
        const tags = resourceTags(args.stack, BACKEND_ROLE);

        this.instance = new aws.ec2.Instance(instanceResourceName(name, args.architecture), {
            ami: debianImage(args.architecture, this).id,
            instanceType: args.instanceType,
            subnetId: args.subnetId,
            availabilityZone: args.availabilityZone,
            // Explicit, not the subnet's default: a host never gets a public address.
            associatePublicIpAddress: false,
            vpcSecurityGroupIds: [args.securityGroupId],
            ...hardenedInstanceArgs(args.rootVolumeSizeGiB, tags),
            userData: hostUserData(args.deployPublicKey),
            tags: { ...tags, Role: BACKEND_ROLE, Name: `pakashop-${args.stack}-backend-${args.ordinal}` },
        }, { parent: this, ignoreChanges: IGNORE_IMAGE_UPDATES });

        this.instanceId = this.instance.id;
        this.privateIp = this.instance.privateIp;
        this.availabilityZone = pulumi.output(args.availabilityZone);
        this.hostPublicKey = consoleHostKey(name, this.instance, this);
        this.registerOutputs({
            privateIp: this.privateIp,
            hostPublicKey: this.hostPublicKey,
            availabilityZone: this.availabilityZone,
        });
    }
}
