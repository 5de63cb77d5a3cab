/**
 * A private EC2 host of a data tier (Redis, Meilisearch): no public address, the tier's port
 * open to the backend host's security group only, SSH to the deploy runner's and the Instance
 * Connect Endpoint's security groups only.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Architecture, debianImage, hardenedInstanceArgs, hostUserData, IGNORE_IMAGE_UPDATES, instanceResourceName } from "./ec2Host";
import { consoleHostKey } from "./hostKey";
import { remote } from "@pulumi/command";
import { sshConnection } from "./connection";
import { remoteStep } from "./remoteStep";
import { resourceTags } from "./tags";

/** Arguments of {@link DataHost}. */
export interface DataHostArgs {
    /** The stack name, for tags. */
    readonly stack: string;
    /** Tag value and name part: `redis`, `search`. */
    readonly role: string;
    readonly vpcId: pulumi.Input<string>;
    /** A private subnet. */
    readonly subnetId: pulumi.Input<string>;
    readonly instanceType: string;
    readonly architecture: Architecture;
    /** @default 20 */
    readonly rootVolumeSizeGiB?: number;
    /** The tier's TCP port, open to `clientSecurityGroupId` only. */
    readonly port: number;
    /** The backend host's security group: the tier's only client. */
    readonly clientSecurityGroupId: pulumi.Input<string>;
    /** The security groups allowed to reach SSH: the deploy runner's and the Instance Connect Endpoint's. */
    readonly sshSourceSecurityGroupIds: pulumi.Input<string>[];
    /** Public key authorized for the image's default user. */
    readonly deployPublicKey: string;
    /**
     * An extra encrypted gp3 volume for the tier's data, created with the instance so it is
     * attached at first boot. It goes with the instance: search indexes are rebuilt from the
     * database, so the volume holds no data of record.
     * @default none
     */
    readonly dataVolumeSizeGiB?: number;
}

/** What a data tier component (Redis, Meilisearch) needs to place and provision its host. */
export interface DataTierArgs {
    readonly stack: string;
    readonly vpcId: pulumi.Input<string>;
    /** A private subnet. */
    readonly subnetId: pulumi.Input<string>;
    readonly instanceType: string;
    readonly architecture: Architecture;
    /** The backend host's security group: the tier's only client. */
    readonly clientSecurityGroupId: pulumi.Input<string>;
    /** The security groups allowed to reach SSH: the deploy runner's and the Instance Connect Endpoint's. */
    readonly sshSourceSecurityGroupIds: pulumi.Input<string>[];
    readonly deployPublicKey: string;
    /** SSH user; provisioning runs under `sudo -n` unless root. */
    readonly sshUser: string;
    /** Deploy private key (a Pulumi secret). */
    readonly privateKey: pulumi.Input<string>;
    /** What must exist before provisioning (NAT for packages). */
    readonly provisionAfter: pulumi.Resource[];
}

/** Device name the data volume is attached as; on Nitro it shows up as NVMe, found by serial. */
export const DATA_VOLUME_DEVICE = "/dev/sdf";

export class DataHost extends pulumi.ComponentResource {
    public readonly instance: aws.ec2.Instance;
    /** `redis`, `search`. */
    public readonly role: string;
    public readonly privateIp: pulumi.Output<string>;
    public readonly hostPublicKey: pulumi.Output<string>;
    public readonly securityGroupId: pulumi.Output<string>;
    /** The data volume's id (`vol-...`), or an empty string without one. */
    public readonly dataVolumeId: pulumi.Output<string>;

    constructor(name: string, args: DataHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:hosts:DataHost", name, {}, opts);
        const tags = resourceTags(args.stack, args.role);
        this.role = args.role;
        const securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, {
            description: `Pakashop ${args.role}: port ${args.port} from the backend host, SSH from the deploy runner and Instance Connect`,
            vpcId: args.vpcId,
            ingress: [
                { description: `${args.role} from the backend host`, protocol: "tcp", fromPort: args.port, toPort: args.port, securityGroups: [args.clientSecurityGroupId] },
                { description: "SSH from the deploy runner and the Instance Connect Endpoint", protocol: "tcp", fromPort: 22, toPort: 22, securityGroups: args.sshSourceSecurityGroupIds },
            ],
            egress: [{ description: "Packages through NAT", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
            tags,
        }, { parent: this });

        this.instance = new aws.ec2.Instance(instanceResourceName(name, args.architecture), {
            ami: debianImage(args.architecture, this).id,
            instanceType: args.instanceType,
            subnetId: args.subnetId,
            associatePublicIpAddress: false,
            vpcSecurityGroupIds: [securityGroup.id],
            ...hardenedInstanceArgs(args.rootVolumeSizeGiB ?? 20, tags),
            ebsBlockDevices: args.dataVolumeSizeGiB
                ? [{ deviceName: DATA_VOLUME_DEVICE, volumeType: "gp3", volumeSize: args.dataVolumeSizeGiB, encrypted: true, deleteOnTermination: true, tags }]
                : [],
            userData: hostUserData(args.deployPublicKey),
            tags: { ...tags, Name: `pakashop-${args.stack}-${args.role}` },
        }, { parent: this, ignoreChanges: IGNORE_IMAGE_UPDATES });

        this.privateIp = this.instance.privateIp;
        this.hostPublicKey = consoleHostKey(name, this.instance, this);
        this.securityGroupId = securityGroup.id;
        this.dataVolumeId = this.instance.ebsBlockDevices.apply((devices) => devices?.find((d) => d.deviceName === DATA_VOLUME_DEVICE)?.volumeId ?? "");
        this.registerOutputs({ privateIp: this.privateIp, hostPublicKey: this.hostPublicKey, securityGroupId: this.securityGroupId });
    }
}

/**
 * Runs a data tier's provisioning script on its host, reached directly at its private address
 * from the in-VPC runner, once the host and `tier.provisionAfter` exist. The tier's secret goes
 * on stdin.
 */
export function provisionDataHost(name: string, host: DataHost, tier: DataTierArgs, script: pulumi.Input<string>, secret: pulumi.Input<string>, parent: pulumi.Resource): remote.Command {
    return remoteStep(name, {
        connection: sshConnection({ host: host.privateIp, hostKey: host.hostPublicKey, user: tier.sshUser, privateKey: tier.privateKey }),
        sshUser: tier.sshUser,
        script,
        hostId: host.instance.id,
        summary: { host: host.role },
        stdin: secret,
    }, { parent, dependsOn: [host, ...tier.provisionAfter] });
}
