/**
 * The backend EC2 host of one stack: Debian 13, IMDSv2 only, encrypted gp3 root volume, an
 * Elastic IP, and a security group that admits HTTPS from Cloudflare only (the one rule open
 * to addresses outside the VPC) and SSH from the deploy runner's and the Instance Connect
 * Endpoint's security groups only. Its SSH host key is read from its console
 * (components/hostKey.ts), so every remote command pins it from the first connection on.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Architecture, debianImage, hardenedInstanceArgs, hostUserData, IGNORE_IMAGE_UPDATES, instanceResourceName } from "./ec2Host";
import { consoleHostKey } from "./hostKey";
import { resourceTags } from "./tags";

/** Arguments of {@link BackendHost}. */
export interface BackendHostArgs {
    /** The stack name, for tags. */
    readonly stack: string;
    /** VPC the host and its security group live in. */
    readonly vpcId: pulumi.Input<string>;
    /** Public subnet for the host. */
    readonly subnetId: pulumi.Input<string>;
    /** EC2 instance type, e.g. `t3.large`. */
    readonly instanceType: string;
    /** CPU architecture of the instance type; picks the Debian image. */
    readonly architecture: Architecture;
    /** Size of the encrypted gp3 root volume. */
    readonly rootVolumeSizeGiB: number;
    /**
     * The security groups allowed to reach SSH (port 22): the deploy runner's and the Instance
     * Connect Endpoint's. No address range ever: SSH never comes from outside the VPC.
     */
    readonly sshSourceSecurityGroupIds: pulumi.Input<string>[];
    /** Networks allowed to reach HTTPS (port 443): Cloudflare's published ranges. */
    readonly httpsCidrs: { readonly ipv4: pulumi.Input<string[]>; readonly ipv6: pulumi.Input<string[]> };
    /** OpenSSH public key authorized for the image's default user. */
    readonly deployPublicKey: string;
    /**
     * The VPC's internet gateway. An Elastic IP associated with an instance needs it attached
     * first, and nothing in the EIP's inputs refers to it, so the order is explicit (the
     * provider's docs: "EIP may require IGW to exist prior to association. Use depends_on to
     * set an explicit dependency on the IGW", https://www.pulumi.com/registry/packages/aws/api-docs/ec2/eip/).
     */
    readonly internetGateway: pulumi.Resource;
}

export class BackendHost extends pulumi.ComponentResource {
    /** The instance. */
    public readonly instance: aws.ec2.Instance;
    /** The instance id: it changes exactly when the host is replaced, so every step on it re-runs. */
    public readonly instanceId: pulumi.Output<string>;
    /** The address Cloudflare proxies to (nothing SSHes to it: 22 is closed to the internet). */
    public readonly publicIp: pulumi.Output<string>;
    /** The address deploys (from the in-VPC runner) connect to, and other tiers see the host from. */
    public readonly privateIp: pulumi.Output<string>;
    /** The pinned SSH host key line (`ssh-ed25519 AAAA...`). */
    public readonly hostPublicKey: pulumi.Output<string>;
    /** The host's security group, for the data tiers' ingress rules. */
    public readonly securityGroupId: pulumi.Output<string>;

    constructor(name: string, args: BackendHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:hosts:BackendHost", name, {}, opts);
        const tags = resourceTags(args.stack, "backend");

        const image = debianImage(args.architecture, this);

        const securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, {
            description: "Pakashop backend host: SSH from the deploy runner and Instance Connect, HTTPS from Cloudflare",
            vpcId: args.vpcId,
            ingress: [
                {
                    description: "SSH from the deploy runner and the Instance Connect Endpoint",
                    protocol: "tcp", fromPort: 22, toPort: 22,
                    securityGroups: args.sshSourceSecurityGroupIds,
                },
                {
                    description: "HTTPS from Cloudflare only",
                    protocol: "tcp", fromPort: 443, toPort: 443,
                    cidrBlocks: args.httpsCidrs.ipv4,
                    ipv6CidrBlocks: args.httpsCidrs.ipv6,
                },
            ],
            egress: [{
                description: "Packages, git and the data tiers",
                protocol: "-1", fromPort: 0, toPort: 0,
                cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"],
            }],
            tags,
        }, { parent: this });

        this.instance = new aws.ec2.Instance(instanceResourceName(name, args.architecture), {
            ami: image.id,
            instanceType: args.instanceType,
            subnetId: args.subnetId,
            vpcSecurityGroupIds: [securityGroup.id],
            ...hardenedInstanceArgs(args.rootVolumeSizeGiB, tags),
            userData: hostUserData(args.deployPublicKey),
            tags: { ...tags, Name: `pakashop-${args.stack}-backend` },
        }, { parent: this, ignoreChanges: IGNORE_IMAGE_UPDATES });

        const elasticIp = new aws.ec2.Eip(`${name}-eip`, {
            domain: "vpc",
            instance: this.instance.id,
            tags,
        }, { parent: this, dependsOn: [args.internetGateway] });

        this.instanceId = this.instance.id;
        this.publicIp = elasticIp.publicIp;
        this.privateIp = this.instance.privateIp;
        this.hostPublicKey = consoleHostKey(name, this.instance, this);
        this.securityGroupId = securityGroup.id;
        this.registerOutputs({
            publicIp: this.publicIp,
            privateIp: this.privateIp,
            hostPublicKey: this.hostPublicKey,
            securityGroupId: this.securityGroupId,
        });
    }
}
