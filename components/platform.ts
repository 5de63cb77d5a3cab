/**
 * The whole platform of one stack. Today: the backend host and its service rollout in the
 * default VPC. The network, data tiers, edge and frontend join here as components of their own.
 */
import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { BackendHost } from "./backendHost";
import { ServiceRollout } from "./serviceRollout";
import { StackSettings } from "./settings";

export class Platform extends pulumi.ComponentResource {
    public readonly backend: BackendHost;
    public readonly rollout: ServiceRollout;

    constructor(name: string, settings: StackSettings, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:platform:Platform", name, {}, opts);

        // The default VPC until the network component of the tiers issue replaces it.
        const vpc = aws.ec2.getVpcOutput({ default: true }, { parent: this });
        const subnets = aws.ec2.getSubnetsOutput({
            filters: [
                { name: "vpc-id", values: [vpc.id] },
                { name: "default-for-az", values: ["true"] },
            ],
        }, { parent: this });
        const cloudflareRanges = cloudflare.getIpRangesOutput({}, { parent: this });

        this.backend = new BackendHost(`${name}-backend`, {
            stack: settings.stack,
            vpcId: vpc.id,
            subnetId: subnets.ids.apply((ids) => {
                if (ids.length === 0) throw new pulumi.ResourceError("the default VPC has no default subnet", this);
                return [...ids].sort()[0];
            }),
            instanceType: settings.instanceType,
            architecture: settings.architecture,
            rootVolumeSizeGiB: settings.rootVolumeSizeGiB,
            deployCidrs: settings.deployCidrs,
            httpsCidrs: { ipv4: cloudflareRanges.ipv4Cidrs, ipv6: cloudflareRanges.ipv6Cidrs },
            deployPublicKey: settings.deployPublicKey,
        }, { parent: this });

        this.rollout = new ServiceRollout(`${name}-rollout`, {
            stack: settings.stack,
            host: this.backend.publicIp,
            hostKey: this.backend.hostPublicKey,
            sshUser: settings.sshUser,
            privateKey: settings.deployPrivateKey,
            catalog: settings.catalog,
            serviceRevisions: settings.serviceRevisions,
            repositoryUrl: settings.repositoryUrl,
            branch: settings.branch,
            healthTimeoutSeconds: settings.healthTimeoutSeconds,
        }, { parent: this });

        this.registerOutputs({});
    }
}
