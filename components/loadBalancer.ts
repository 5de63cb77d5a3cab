/**
 * The stack's Application Load Balancer in front of the backend fleet (components/backendFleet.ts):
 * internet-facing in the public subnets, HTTPS only (no HTTP listener: Cloudflare sends HTTPS,
 * "always HTTPS" redirects browsers at the edge), the Cloudflare Origin CA certificate imported
 * into ACM (so Cloudflare's Full (strict) validates the load balancer as it validated nginx),
 * invalid header fields dropped, and a security group that admits 443 from Cloudflare's
 * published IPv4 ranges only, so the origin is never reachable around the WAF.
 *
 * `/healthz` (the fleet's health check path) is not served to the internet, in two layers: nginx
 * answers 404 to any request carrying X-Forwarded-For, which every request the load balancer
 * forwards carries while `xffHeaderProcessingMode` is `append` (set here, not left to the default),
 * and the HTTPS listener answers `/healthz` itself with a fixed 404 before any forwarding.
 *
 * The target group's settings (health check, deregistration delay) are one constant,
 * components/targetGroupSettings.ts. Registration of the hosts is not done here: each host's
 * `TargetGroupAttachment` follows that host's rollout `-return` step (components/platform.ts),
 * so the rolling deploy, not Pulumi's create order, decides when a host takes traffic.
 */
import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { FLEET_HEALTH_PATH } from "../host/health/fleetHealth";
import { AWS_LB } from "./providerValues";
import { resourceTags } from "./tags";
import { TARGET_GROUP } from "./targetGroupSettings";

/** The ALB's idle timeout: the API's requests are short; AWS's default, set so it is visible. */
export const LOAD_BALANCER_IDLE_TIMEOUT_SECONDS = 60;

/**
 * The HTTPS listener's rule keeping the fleet's health check path from the internet: a request
 * for {@link FLEET_HEALTH_PATH} gets a fixed 404 from the load balancer and never reaches a host.
 * Priority 1, the first rule evaluated ("When a listener receives a request, it evaluates the
 * request against each rule in priority order, starting with the lowest numbered rule",
 * "Listener rules for your Application Load Balancer",
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rules.html).
 * The load balancer's own health checks are not affected: they are not requests to a listener
 * but requests each load balancer node sends to each registered target directly ("The load
 * balancer sends a health check request to each registered target every HealthCheckIntervalSeconds
 * seconds, using the specified port, protocol, and health check path", "Health checks for
 * Application Load Balancer target groups",
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html),
 * so no listener rule is evaluated for them. (No AWS page says so in one sentence; it follows from
 * the two.) The path pattern is compared with the request's path only, case-sensitively, not its
 * query string (provider docs, `ListenerRuleConditionPathPattern.values`), so `/healthz?x` is
 * caught too; paths nginx would normalize to `/healthz` (`//healthz`, percent-encoded letters) are
 * not, which is why nginx's X-Forwarded-For check (host/proxy.ts) stays the first layer.
 */
export const HEALTH_PATH_RULE = {
    priority: 1,
    pathPattern: FLEET_HEALTH_PATH,
    fixedResponse: {
        contentType: AWS_LB.fixedResponse.contentType.textPlain,
        statusCode: AWS_LB.fixedResponse.statusCode.notFound,
        messageBody: "Not Found\n",
    },
} as const;

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
            // `append` (AWS's default, set so no one changes it unawares): every request the load
            // balancer forwards carries X-Forwarded-For, the client's address appended to any the
            // client sent (components/providerValues.ts, AWS_LB_XFF_MODE). nginx's `/healthz`
            // answers 404 to a request carrying the header (host/proxy.ts); with `remove`, a
            // client's request for it would arrive without one and read the fleet's health.
            xffHeaderProcessingMode: AWS_LB.xffHeaderProcessingMode.append,
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

        // Autonamed, so a replacement (port, protocol and VPC force one) never collides with the
        // old group's name. Target group names are at most 32 characters (CreateTargetGroup), and
        // the provider names an autonamed one `<resource name>-<7 random characters>`, refusing a
        // resource name whose autoname would not fit (pulumi/pulumi-aws#1317 shows the refusal;
        // pulumi/pulumi-aws#1932 set the target group's autoname maximum to 32): so the resource
        // name may have 24 characters at most. `pakashop-production-tg` has 22 (30 with the
        // suffix); the earlier `pakashop-production-backend-tg` (30, so 38) could not be created.
        // The load balancer's `pakashop-<stack>-lb` is under the same 32 (CreateLoadBalancer).
        // tests/program.spec.ts checks every autonamed load balancer and target group of both
        // stacks against elbAutonameProblem (components/providerValues.ts).
        this.targetGroup = new aws.lb.TargetGroup(`pakashop-${args.stack}-tg`, {
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

        // The health check path answered by the load balancer, never forwarded (HEALTH_PATH_RULE
        // says why the load balancer's own health checks still reach the hosts).
        new aws.lb.ListenerRule(`${name}-healthz-404`, {
            listenerArn: this.listener.arn,
            priority: HEALTH_PATH_RULE.priority,
            conditions: [{ pathPattern: { values: [HEALTH_PATH_RULE.pathPattern] } }],
            actions: [{ type: AWS_LB.actionType.fixedResponse, fixedResponse: { ...HEALTH_PATH_RULE.fixedResponse } }],
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
