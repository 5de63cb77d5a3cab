/**
 * The stack's backend fleet: `backendHosts` hosts (components/backendHost.ts), each in a private
 * subnet, spread over the VPC's zones, behind the load balancer (components/loadBalancer.ts),
 * and the one security group they share.
 *
 * - Host n (1-based) is `<name>-<n>`: the ordinal is its identity, so adding a host never
 *   renames (and so never replaces) one that exists. It goes in private subnet `(n-1) % zones`,
 *   so any two consecutive hosts are in different zones and a fleet of two or more spans at least
 *   two (the settings refuse a fleet of 2+ in one zone: settingsSchema.ts `fleetZoneSpreadRule`).
 * - The security group admits SSH (22) from the deploy runner's and the Instance Connect
 *   Endpoint's groups, and HTTPS (443) from the load balancer's group only: no address range at
 *   all. Port 80 is not admitted (the issue says 80/443): the target group speaks HTTPS to 443
 *   (components/targetGroupSettings.ts), so nothing needs 80 and one port fewer is open.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Architecture } from "./ec2Host";
import { BACKEND_ROLE, BackendHost } from "./backendHost";
import { TARGET_GROUP } from "./targetGroupSettings";
import { resourceTags } from "./tags";

/** Arguments of {@link BackendFleet}. */
export interface BackendFleetArgs {
    /** The stack name, for tags. */
    readonly stack: string;
    /** VPC of the hosts and their security group. */
    readonly vpcId: pulumi.Input<string>;
    /** The VPC's private subnets, one per zone. */
    readonly privateSubnetIds: pulumi.Input<string>[];
    /** The zone of each private subnet, same index (components/network.ts `availabilityZones`). */
    readonly availabilityZones: pulumi.Input<string>[];
    /** How many hosts (1 to 12; production at least 2: components/settingsSchema.ts). */
    readonly hostCount: number;
    /** EC2 instance type of every host, e.g. `t3.large`. */
    readonly instanceType: string;
    /** CPU architecture of the instance type; picks the Debian image. */
    readonly architecture: Architecture;
    /** Size of each host's encrypted gp3 root volume. */
    readonly rootVolumeSizeGiB: number;
    /**
     * The security groups allowed to reach SSH (port 22): the deploy runner's and the Instance
     * Connect Endpoint's. No address range ever: SSH never comes from outside the VPC.
     */
    readonly sshSourceSecurityGroupIds: pulumi.Input<string>[];
    /** The load balancer's security group: the only source of HTTPS (443). */
    readonly loadBalancerSecurityGroupId: pulumi.Input<string>;
    /** OpenSSH public key authorized for the image's default user. */
    readonly deployPublicKey: string;
}

export class BackendFleet extends pulumi.ComponentResource {
    /** The hosts, in ordinal order (`hosts[0]` is host 1). */
    public readonly hosts: BackendHost[];
    /** The fleet's security group, for the data tiers' ingress rules. */
    public readonly securityGroupId: pulumi.Output<string>;

    constructor(name: string, args: BackendFleetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:hosts:BackendFleet", name, {}, opts);
        const zones = args.privateSubnetIds.length;
        if (!Number.isInteger(args.hostCount) || args.hostCount < 1) {
            throw new pulumi.ResourceError(`a backend fleet needs at least one host, not ${args.hostCount}`, this);
        }
        if (zones !== args.availabilityZones.length) {
            throw new pulumi.ResourceError(`${zones} private subnets but ${args.availabilityZones.length} zones: each subnet needs its zone`, this);
        }
        // Defence in depth behind the settings rule: 2+ hosts in one zone fail together.
        if (args.hostCount >= 2 && zones < 2) {
            throw new pulumi.ResourceError(`${args.hostCount} backend hosts need at least 2 zones to spread over; the VPC has ${zones}`, this);
        }
        const tags = resourceTags(args.stack, BACKEND_ROLE);

        const securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, {
            description: "Pakashop backend hosts: SSH from the deploy runner and Instance Connect, HTTPS from the load balancer",
            vpcId: args.vpcId,
            ingress: [
                {
                    description: "SSH from the deploy runner and the Instance Connect Endpoint",
                    protocol: "tcp", fromPort: 22, toPort: 22,
                    securityGroups: args.sshSourceSecurityGroupIds,
                },
                {
                    // The load balancer's traffic and its health checks, both to the target port.
                    description: "HTTPS from the load balancer only",
                    protocol: "tcp", fromPort: TARGET_GROUP.port, toPort: TARGET_GROUP.port,
                    securityGroups: [args.loadBalancerSecurityGroupId],
                },
            ],
            egress: [{
                description: "Packages (through NAT) and the data tiers",
                protocol: "-1", fromPort: 0, toPort: 0,
                cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"],
            }],
            tags,
        }, { parent: this });
        this.securityGroupId = securityGroup.id;

        this.hosts = Array.from({ length: args.hostCount }, (_, i) => {
            const ordinal = i + 1;
            const index = i % zones;
            return new BackendHost(`${name}-${ordinal}`, {
                stack: args.stack,
                ordinal,
                subnetId: args.privateSubnetIds[index],
                availabilityZone: args.availabilityZones[index],
                securityGroupId: securityGroup.id,
                instanceType: args.instanceType,
                architecture: args.architecture,
                rootVolumeSizeGiB: args.rootVolumeSizeGiB,
                deployPublicKey: args.deployPublicKey,
            }, { parent: this });
        });
        this.registerOutputs({ securityGroupId: this.securityGroupId, hostCount: args.hostCount });
    }
}
