/**
 * The stack's Application Load Balancer in front of the backend fleet (components/backendFleet.ts):
 * internet-facing in the public subnets, HTTPS only (no HTTP listener: Cloudflare sends HTTPS,
 * "always HTTPS" redirects browsers at the edge), the Cloudflare Origin CA certificate imported
 * into ACM (so Cloudflare's Full (strict) validates the load balancer as it validated nginx),
 * invalid header fields dropped, and a security group that admits 443 from Cloudflare's
 * published IPv4 ranges only, so the origin is never reachable around the WAF.
 *
 * The target group's settings (health check, deregistration delay) are one constant,
 * components/targetGroupSettings.ts. Registration of the hosts is not done here: each host's
 * `TargetGroupAttachment` follows that host's rollout `-return` step (components/platform.ts),
 * so the rolling deploy, not Pulumi's create order, decides when a host takes traffic.
 */
import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { AWS_LB } from "./providerValues";
import { resourceTags } from "./tags";
import { TARGET_GROUP } from "./targetGroupSettings";

/** The ALB's idle timeout: the API's requests are short; AWS's default, set so it is visible. */
export const LOAD_BALANCER_IDLE_TIMEOUT_SECONDS = 60;

/** Arguments of {@link LoadBalancer}. */
export interface LoadBalancerArgs {
    /** The stack name, for tags and the target group's name. */
    readonly stack: string;
    /** The VPC of the load balancer and the target group. */
    readonly vpcId: pulumi.Input<string>;
    /** The VPC's IPv4 range: the only place the load balancer sends traffic to (the hosts' 443). */
    readonly vpcCidr: string;
    /** Public subnets, one per zone (an ALB needs two zones at least). */
    readonly publicSubnetIds: pulumi.Input<string>[];
    /** The Cloudflare Origin CA certificate (PEM) the listener serves. */
    readonly certificate: pulumi.Input<string>;
    /** Its private key (PEM, ECDSA P-256, a secret). */
    readonly privateKey: pulumi.Input<string>;
    /**
     * AWS refuses to delete the load balancer while true (`enableDeletionProtection`).
     * @default false
     */
    readonly deletionProtection?: boolean;
}

export class LoadBalancer extends pulumi.ComponentResource {
    /** The load balancer's security group (the fleet admits 443 from it only). */
    public readonly securityGroupId: pulumi.Output<string>;
    /** The load balancer's DNS name: the Cloudflare API record's CNAME target. */
    public readonly dnsName: pulumi.Output<string>;
    /** The backend target group's ARN, for the attachments and the rollout's drain/return steps. */
    public readonly targetGroupArn: pulumi.Output<string>;
    /** The target group, parent-free handle for `dependsOn`. */
    public readonly targetGroup: aws.lb.TargetGroup;
    /** The HTTPS listener. */
    public readonly listener: aws.lb.Listener;

    constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:edge:LoadBalancer", name, {}, opts);
        const parent = { parent: this };
        const tags = resourceTags(args.stack, "load-balancer");
        const deletionProtection = args.deletionProtection ?? false;

        // Cloudflare's published ranges, read from the provider at deploy time (the same lookup
        // the policy pack's ranges are checked against). IPv4 only: the VPC and so the ALB have
        // no IPv6 (ipAddressType ipv4), so IPv6 rules would admit nothing.
        const cloudflareRanges = cloudflare.getIpRangesOutput({}, parent);
        const securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, {
            description: "Pakashop load balancer: HTTPS from Cloudflare only, HTTPS to the backend hosts",
            vpcId: args.vpcId,
            ingress: [{
                description: "HTTPS from Cloudflare only",
                protocol: "tcp", fromPort: 443, toPort: 443,
                cidrBlocks: cloudflareRanges.ipv4Cidrs,
            }],
            // To the VPC's range, not to the fleet's group: the fleet's group names this one in
            // its ingress, and two inline rule sets naming each other would be a dependency cycle.
            egress: [{
                description: "HTTPS to the backend hosts (traffic and health checks)",
                protocol: "tcp", fromPort: TARGET_GROUP.port, toPort: TARGET_GROUP.port,
                cidrBlocks: [args.vpcCidr],
            }],
            tags,
        }, parent);

        const loadBalancer = new aws.lb.LoadBalancer(name, {
            loadBalancerType: AWS_LB.loadBalancerType.application,
            internal: false,
            ipAddressType: AWS_LB.ipAddressType.ipv4,
            subnets: args.publicSubnetIds,
            securityGroups: [securityGroup.id],
            // Requests whose header names aren't valid HTTP are dropped at the ALB instead of
            // reaching nginx and the gateway (request smuggling through odd header names).
            dropInvalidHeaderFields: true,
            idleTimeout: LOAD_BALANCER_IDLE_TIMEOUT_SECONDS,
            enableDeletionProtection: deletionProtection,
            tags,
        }, parent);

        // An import, not an ACM-issued certificate: Cloudflare's Full (strict) trusts its own
        // Origin CA, which ACM can't issue from. Origin CA certificates are signed by Cloudflare's
        // root directly, so there is no intermediate chain to give (certificateChain is optional).
        const certificate = new aws.acm.Certificate(`${name}-cert`, {
            certificateBody: args.certificate,
            privateKey: pulumi.secret(args.privateKey),
            tags,
        }, parent);

        // Autonamed: target group names are at most 32 characters (CreateTargetGroup), and the
        // provider's autonaming keeps the name within that (pulumi/pulumi-aws#1932, "Fix
        // TargetGroup's autoname length"; not tried against AWS here); and a replacement (port,
        // protocol, VPC force one) never collides with the old group's name.
        this.targetGroup = new aws.lb.TargetGroup(`pakashop-${args.stack}-backend-tg`, {
            port: TARGET_GROUP.port,
            protocol: TARGET_GROUP.protocol,
            targetType: AWS_LB.targetType.instance,
            vpcId: args.vpcId,
            deregistrationDelay: TARGET_GROUP.deregistrationDelaySeconds,
            healthCheck: {
                enabled: true,
                path: TARGET_GROUP.healthCheck.path,
                protocol: TARGET_GROUP.healthCheck.protocol,
                port: TARGET_GROUP.healthCheck.port,
                matcher: TARGET_GROUP.healthCheck.matcher,
                interval: TARGET_GROUP.healthCheck.intervalSeconds,
                timeout: TARGET_GROUP.healthCheck.timeoutSeconds,
                healthyThreshold: TARGET_GROUP.healthCheck.healthyThreshold,
                unhealthyThreshold: TARGET_GROUP.healthCheck.unhealthyThreshold,
            },
            tags,
        }, parent);

        this.listener = new aws.lb.Listener(`${name}-https`, {
            loadBalancerArn: loadBalancer.arn,
            port: 443,
            protocol: AWS_LB.protocol.https,
            sslPolicy: AWS_LB.sslPolicy.tls13And12,
            certificateArn: certificate.arn,
            defaultActions: [{ type: AWS_LB.actionType.forward, targetGroupArn: this.targetGroup.arn }],
            tags,
        }, parent);

        this.securityGroupId = securityGroup.id;
        this.dnsName = loadBalancer.dnsName;
        this.targetGroupArn = this.targetGroup.arn;
        this.registerOutputs({ securityGroupId: this.securityGroupId, dnsName: this.dnsName, targetGroupArn: this.targetGroupArn });
    }

    /**
     * Registers `instanceId` in the backend target group as Pulumi's record of it. The rollout's
     * `-return` step registers the host itself (and waits until it is healthy); the attachment
     * `dependsOn` that step, so it only ever records a registration the rollout made, and a host
     * whose gate failed (no return) has no attachment created either.
     */
    public attach(name: string, instanceId: pulumi.Input<string>, dependsOn: pulumi.Input<pulumi.Resource>[]): aws.lb.TargetGroupAttachment {
        return new aws.lb.TargetGroupAttachment(name, {
            targetGroupArn: this.targetGroup.arn,
            targetId: instanceId,
            port: TARGET_GROUP.port,
        }, { parent: this, dependsOn });
    }
}
