/**
 * The engineers' way onto a host: an EC2 Instance Connect Endpoint in a private subnet. A
 * session is opened with IAM credentials (`ec2-instance-connect:OpenTunnel`) and logged in
 * CloudTrail; nothing on the internet reaches port 22 (docs/runbook.md, "Interactive SSH").
 *
 * `preserveClientIp: false`: the endpoint connects from its own interface, so the hosts admit
 * SSH from this endpoint's security group ("Security groups for EC2 Instance Connect
 * Endpoint", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/eice-security-groups.html).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { resourceTags } from "./tags";

/** Arguments of {@link InstanceConnect}. */
export interface InstanceConnectArgs {
    readonly stack: string;
    readonly vpcId: pulumi.Input<string>;
    /** The VPC's range: the endpoint opens SSH to it and nothing else. */
    readonly vpcCidr: string;
    /** A private subnet. */
    readonly subnetId: pulumi.Input<string>;
}

export class InstanceConnect extends pulumi.ComponentResource {
    /** The endpoint's security group: the hosts admit SSH from it. */
    public readonly securityGroupId: pulumi.Output<string>;
    public readonly endpointId: pulumi.Output<string>;

    constructor(name: string, args: InstanceConnectArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:access:InstanceConnect", name, {}, opts);
        const tags = resourceTags(args.stack, "access");
        const securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, {
            description: "Pakashop EC2 Instance Connect Endpoint: SSH out to the VPC only",
            vpcId: args.vpcId,
            ingress: [],
            egress: [{ description: "SSH to the hosts", protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: [args.vpcCidr] }],
            tags: { ...tags, Name: `pakashop-${args.stack}-instance-connect` },
        }, { parent: this });
        const endpoint = new aws.ec2transitgateway.InstanceConnectEndpoint(`${name}-endpoint`, {
            subnetId: args.subnetId,
            securityGroupIds: [securityGroup.id],
            preserveClientIp: false,
            tags: { ...tags, Name: `pakashop-${args.stack}` },
        }, { parent: this });
        this.securityGroupId = securityGroup.id;
        this.endpointId = endpoint.id;
        this.registerOutputs({ securityGroupId: this.securityGroupId, endpointId: this.endpointId });
    }
}
