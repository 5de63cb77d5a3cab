/**
 * The stack's VPC: a public and a private subnet in each availability zone, an internet
 * gateway for the public ones, and NAT for the private ones (the Redis and Meilisearch hosts
 * fetch packages through it; nothing can reach them from the internet). Deploys reach every
 * host over SSH at its private address from the in-VPC runner (components/deployRunner.ts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { planSubnets } from "./subnetPlan";
import { resourceTags } from "./tags";

/** Arguments of {@link Network}. */
export interface NetworkArgs {
    /** The stack name, for tags. */
    readonly stack: string;
    /** Private IPv4 range of the VPC. */
    readonly vpcCidr: string;
    /** Zones to span (2 or 3). */
    readonly availabilityZoneCount: number;
    /** One NAT gateway per zone instead of one for the VPC. */
    readonly natGatewayPerZone: boolean;
}

export class Network extends pulumi.ComponentResource {
    public readonly vpcId: pulumi.Output<string>;
    public readonly publicSubnetIds: pulumi.Output<string>[];
    public readonly privateSubnetIds: pulumi.Output<string>[];
    /**
     * The zone name of each index, as the subnets of that index use it: `publicSubnetIds[i]` and
     * `privateSubnetIds[i]` are in `availabilityZones[i]`. Known at preview (it comes from the
     * getAvailabilityZones lookup), so hosts can name their zone explicitly and the zone-spread
     * policy can read it.
     */
    public readonly availabilityZones: pulumi.Output<string>[];
    /** The internet gateway: Elastic IPs and NAT need it attached first. */
    public readonly internetGateway: aws.ec2.InternetGateway;
    /** The NAT gateways: private hosts' only way out, so their provisioning waits for them. */
    public readonly natGateways: aws.ec2.NatGateway[];

    constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:network:Network", name, {}, opts);
        const tags = resourceTags(args.stack, "network");
        const plan = planSubnets(args.vpcCidr, args.availabilityZoneCount);
        const zones = aws.getAvailabilityZonesOutput({ state: "available" }, { parent: this });
        const zone = (i: number) => zones.names.apply((names) => {
            if (names.length <= i) throw new pulumi.ResourceError(`the region has ${names.length} zones; availabilityZoneCount is ${args.availabilityZoneCount}`, this);
            return names[i];
        });

        const vpc = new aws.ec2.Vpc(`${name}-vpc`, {
            cidrBlock: args.vpcCidr,
            enableDnsHostnames: true,
            enableDnsSupport: true,
            tags: { ...tags, Name: `pakashop-${args.stack}` },
        }, { parent: this });
        const gateway = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags }, { parent: this });
        this.internetGateway = gateway;

        const publicRoutes = new aws.ec2.RouteTable(`${name}-public-rt`, {
            vpcId: vpc.id,
            routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }],
            tags: { ...tags, Name: `pakashop-${args.stack}-public` },
        }, { parent: this });
        const publicSubnets = plan.public.map((cidr, i) => {
            const subnet = new aws.ec2.Subnet(`${name}-public-${i}`, {
                vpcId: vpc.id, cidrBlock: cidr, availabilityZone: zone(i),
                // Only the load balancer and the NAT gateways live here; no host gets a public address.
                mapPublicIpOnLaunch: false,
                tags: { ...tags, Name: `pakashop-${args.stack}-public-${i}`, Tier: "public" },
            }, { parent: this });
            new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: subnet.id, routeTableId: publicRoutes.id }, { parent: this });
            return subnet;
        });

        const natCount = args.natGatewayPerZone ? args.availabilityZoneCount : 1;
        this.natGateways = Array.from({ length: natCount }, (_, i) => {
            const address = new aws.ec2.Eip(`${name}-nat-${i}`, { domain: "vpc", tags }, { parent: this });
            return new aws.ec2.NatGateway(`${name}-nat-${i}`, {
                allocationId: address.id, subnetId: publicSubnets[i].id, tags: { ...tags, Name: `pakashop-${args.stack}-nat-${i}` },
            }, { parent: this, dependsOn: [gateway] });
        });

        const privateSubnets = plan.private.map((cidr, i) => {
            const subnet = new aws.ec2.Subnet(`${name}-private-${i}`, {
                vpcId: vpc.id, cidrBlock: cidr, availabilityZone: zone(i), mapPublicIpOnLaunch: false,
                tags: { ...tags, Name: `pakashop-${args.stack}-private-${i}`, Tier: "private" },
            }, { parent: this });
            const nat = this.natGateways[args.natGatewayPerZone ? i : 0];
            const routes = new aws.ec2.RouteTable(`${name}-private-rt-${i}`, {
                vpcId: vpc.id,
                routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }],
                tags: { ...tags, Name: `pakashop-${args.stack}-private-${i}` },
            }, { parent: this });
            new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: subnet.id, routeTableId: routes.id }, { parent: this });
            return subnet;
        });

        this.vpcId = vpc.id;
        this.publicSubnetIds = publicSubnets.map((s) => s.id);
        this.privateSubnetIds = privateSubnets.map((s) => s.id);
        this.availabilityZones = plan.private.map((_, i) => zone(i));
        this.registerOutputs({ vpcId: this.vpcId, publicSubnetIds: this.publicSubnetIds, privateSubnetIds: this.privateSubnetIds, availabilityZones: this.availabilityZones });
    }
}
