/**
 * Mutation tests for the policy pack: for every policy of the pack (enumerated from the pack,
 * so a new policy without mutations fails here), at least three mutations of the real
 * production plan, each a different spelling of the same weakness, must be caught: the policy
 * reports a violation at its own level (not "can't run") on the right resource.
 *
 * The plan is the one `npm run plan -- --stack production --format json --mode applied` saves
 * (applied: every value known, so nothing hides behind an unknown), mutated in memory and
 * judged by `judgePlan`, the code path of `npm run policy -- --plan` (tools/policy.ts).
 * Mutations the pack does not catch yet are listed in PENDING with the reason; they run as
 * `it.skip` and are printed in the table as "pending".
 */
import { strict as assert } from "assert";
import * as path from "path";
import { ALL_POLICIES } from "../policy/policies";
import { PlanDocument } from "../tools/planFormat";
import { judgePlan } from "../tools/policy";
import { REPO_ROOT } from "../tools/stackConfig";
import { exec } from "./helpers";
import { editSwitchPlan, swapSwitchTierCalls } from "./support/switchPlan";

type Resource = PlanDocument["resources"][number];
type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Mutation {
    /** A short name of this spelling of the weakness. */
    readonly name: string;
    /** Changes the plan in place; returns the URNs a violation may be reported on. */
    readonly apply: (plan: Plan) => string[];
}

/** The saved plan, with helpers to find, change, add and remove resources. */
class Plan {
    constructor(readonly doc: { -readonly [K in keyof PlanDocument]: PlanDocument[K] } & { resources: Resource[] }) {}

    one(type: string, nameEnd = ""): Resource {
        const found = this.doc.resources.filter((r) => r.type === type && r.name.endsWith(nameEnd));
        if (found.length !== 1) throw new Error(`mutation: expected one ${type} named *${nameEnd}, found ${found.length}`);
        return found[0];
    }

    inputs(type: string, nameEnd = ""): Inputs {
        return this.one(type, nameEnd).inputs as Inputs;
    }

    urn(type: string, nameEnd = ""): string {
        return this.one(type, nameEnd).urn;
    }

    remove(type: string, nameEnd = ""): void {
        const urn = this.urn(type, nameEnd);
        this.doc.resources = this.doc.resources.filter((r) => r.urn !== urn).map((r) => ({ ...r, dependsOn: r.dependsOn.filter((d) => d !== urn) }));
    }

    /** Adds a custom resource beside `sibling` (same parent); returns its URN. */
    add(type: string, name: string, inputs: Inputs, sibling: Resource): string {
        const parentTypes = sibling.urn.split("::")[2].split("$").slice(0, -1);
        const urn = `urn:pulumi:${this.doc.stack}::${this.doc.project}::${[...parentTypes, type].join("$")}::${name}`;
        this.doc.resources.push({ urn, type, name, custom: true, parent: sibling.parent, dependsOn: [], inputs });
        return urn;
    }
}

const SG = "aws:ec2/securityGroup:SecurityGroup";
const SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule";
const SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const INSTANCE = "aws:ec2/instance:Instance";
const SUBNET = "aws:ec2/subnet:Subnet";
const DB = "aws:rds/instance:Instance";
const PARAMS = "aws:rds/parameterGroup:ParameterGroup";
const BUCKET = "aws:s3/bucket:Bucket";
const PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock";
const VERSIONING = "aws:s3/bucketVersioning:BucketVersioning";
const ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration";
const LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration";
const BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy";
const ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting";
const RULESET = "cloudflare:index/ruleset:Ruleset";
const DNS = "cloudflare:index/dnsRecord:DnsRecord";
const PROJECT = "vercel:index/project:Project";
const REMOTE = "command:remote:Command";
const DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup";
const EIP = "aws:ec2/eip:Eip";
const EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation";
const LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer";
const LISTENER = "aws:lb/listener:Listener";
const OWASP_ID = "4814384a9e5d4991b9815dcfc25d2f1f";
const MANAGED_ID = "efb7b8c949ac4650a09736fc376e9aee";
const OTHER_ZONE = "fedcba9876543210fedcba9876543210";
const OTHER_BUCKET = "some-other-bucket-id";

/** A security group's ingress rule added inline. */
function inline(sg: string, rule: Inputs): Mutation["apply"] {
    return (plan) => {
        const inputs = plan.inputs(SG, sg);
        inputs.ingress = [...(inputs.ingress ?? []), { description: "mutation", ...rule }];
        return [plan.urn(SG, sg)];
    };
}

/** An ingress rule as a resource of its own, beside the group. */
function separate(type: typeof SG_RULE | typeof SG_INGRESS, sg: string, rule: Inputs): Mutation["apply"] {
    return (plan) => {
        const group = plan.one(SG, sg);
        const ruleInputs = type === SG_RULE ? { type: "ingress", securityGroupId: `${group.name}-id`, ...rule } : { securityGroupId: `${group.name}-id`, ...rule };
        return [plan.add(type, `${group.name}-mutation-rule`, ruleInputs, group), group.urn];
    };
}

/** Sets (or, with `undefined`, deletes) a property at a dotted path of one resource. */
function set(type: string, nameEnd: string, key: string, value: unknown): Mutation["apply"] {
    return (plan) => {
        const parts = key.split(".");
        let target: Inputs = plan.inputs(type, nameEnd);
        for (const part of parts.slice(0, -1)) target = target[part] ??= {};
        const last = parts[parts.length - 1];
        if (value === undefined) delete target[last];
        else target[last] = value;
        return [plan.urn(type, nameEnd)];
    };
}

/** Removes a resource; the violation is expected on `on` (default: the stack). */
function removed(type: string, nameEnd: string, on: (plan: Plan) => string[] = () => [""]): Mutation["apply"] {
    return (plan) => {
        const expected = on(plan);
        plan.remove(type, nameEnd);
        return expected;
    };
}

const bucket = (plan: Plan) => [plan.urn(BUCKET)];
const onStack = () => [""];
const wafRule = (ref: string, change: (rule: Inputs) => void): Mutation["apply"] => (plan) => {
    const rule = plan.inputs(RULESET, "-waf").rules.find((r: Inputs) => r.ref === ref);
    change(rule);
    return ["", plan.urn(RULESET, "-waf")];
};
/** Host 1's steps (every host has its own rollout: `<name>-rollout-<n>-...`). */
const prepareStep = (service: string) => `-rollout-1-${service}-prepare`;
const SWITCH = "-rollout-1-switch";
/** Changes the condition block of a role's GitHub trust statement. */
const trust = (role: string, change: (condition: Inputs) => void): Mutation["apply"] => (plan) => {
    const inputs = plan.inputs("aws:iam/role:Role", role);
    const policy = JSON.parse(inputs.assumeRolePolicy);
    change(policy.Statement[0].Condition);
    inputs.assumeRolePolicy = JSON.stringify(policy);
    return [plan.urn("aws:iam/role:Role", role)];
};

/** A skip rule put first in the WAF's own ruleset, before the execute rules. */
const skipFirst = (actionParameters: Inputs): Mutation["apply"] => (plan) => {
    const waf = plan.inputs(RULESET, "-waf");
    waf.rules = [{ action: "skip", actionParameters, description: "mutation", expression: "true", ref: "mutation-skip" }, ...waf.rules];
    return [plan.urn(RULESET, "-waf")];
};
/** Another ruleset of the zone (in `phase`) with a skip rule. */
const skipRuleset = (phase: string, actionParameters: Inputs): Mutation["apply"] => (plan) => {
    const waf = plan.one(RULESET, "-waf");
    const inputs = waf.inputs as Inputs;
    return [plan.add(RULESET, `${waf.name}-mutation-skip`, { kind: "zone", name: "mutation", phase, zoneId: inputs.zoneId,
        rules: [{ action: "skip", actionParameters, description: "mutation", expression: "true", ref: "mutation-skip" }] }, waf)];
};
/** Changes the TLS statement (the first) of the bucket policy. */
const tlsStatement = (change: (statement: Inputs) => void): Mutation["apply"] => (plan) => {
    const p = plan.inputs(BUCKET_POLICY);
    const policy = JSON.parse(p.policy);
    change(policy.Statement[0]);
    p.policy = JSON.stringify(policy);
    return bucket(plan);
};
/** A second bucket setting of `type`, tied to the bucket like the first, with `inputs`. */
const second = (type: string, inputs: Inputs): Mutation["apply"] => (plan) => {
    const first = plan.one(type);
    plan.add(type, `${first.name}-mutation`, { bucket: (first.inputs as Inputs).bucket, ...inputs }, first);
    return bucket(plan);
};

/** Every policy's mutations: each a different spelling of the weakness the policy exists to stop. */
const MUTATIONS: Record<string, Mutation[]> = {
    "aws-ec2-instance-enforce-imdsv2": [
        { name: "httpTokens optional", apply: set(INSTANCE, "backend-1-instance", "metadataOptions.httpTokens", "optional") },
        { name: "metadataOptions removed (AWS default: optional)", apply: set(INSTANCE, "cache-host-instance", "metadataOptions", undefined) },
        { name: "httpTokens unset, endpoint on", apply: set(INSTANCE, "search-host-instance", "metadataOptions.httpTokens", undefined) },
    ],
    "aws-ec2-instance-missing-root-encryption": [
        { name: "encrypted false", apply: set(INSTANCE, "backend-1-instance", "rootBlockDevice.encrypted", false) },
        { name: "rootBlockDevice removed (AMI default)", apply: set(INSTANCE, "cache-host-instance", "rootBlockDevice", undefined) },
        { name: "encrypted unset", apply: set(INSTANCE, "search-host-instance", "rootBlockDevice.encrypted", undefined) },
    ],
    "aws-ec2-instance-missing-volume-encryption": [
        { name: "data volume encrypted false", apply: set(INSTANCE, "search-host-instance", "ebsBlockDevices.0.encrypted", false) },
        { name: "data volume encrypted unset", apply: set(INSTANCE, "search-host-instance", "ebsBlockDevices.0.encrypted", undefined) },
        { name: "new data volume without encryption", apply: set(INSTANCE, "cache-host-instance", "ebsBlockDevices", [{ deviceName: "/dev/sdg", volumeSize: 50, volumeType: "gp3" }]) },
    ],
    "aws-ec2-instance-disallow-public-ip": [
        { name: "associatePublicIpAddress true (data host)", apply: set(INSTANCE, "cache-host-instance", "associatePublicIpAddress", true) },
        { name: "associatePublicIpAddress true (backend)", apply: set(INSTANCE, "backend-1-instance", "associatePublicIpAddress", true) },
        { name: "associatePublicIpAddress true (search host)", apply: set(INSTANCE, "search-host-instance", "associatePublicIpAddress", true) },
        { name: "associatePublicIpAddress unset (the subnet decides)", apply: set(INSTANCE, "backend-2-instance", "associatePublicIpAddress", undefined) },
        { name: "an Elastic IP on a backend host", apply: (plan) => {
            const host = plan.one(INSTANCE, "backend-1-instance");
            return [plan.add(EIP, `${host.name}-eip`, { domain: "vpc", instance: `${host.name}-id`, tags: (host.inputs as Inputs).tags }, host)];
        } },
        { name: "an EIP association naming an instance", apply: (plan) => {
            const host = plan.one(INSTANCE, "backend-2-instance");
            return [plan.add(EIP_ASSOCIATION, `${host.name}-eip-association`, { allocationId: "eipalloc-0123456789abcdef0", instanceId: `${host.name}-id` }, host)];
        } },
        { name: "an Elastic IP on a network interface", apply: (plan) => {
            const host = plan.one(INSTANCE, "backend-1-instance");
            return [plan.add(EIP, `${host.name}-eni-eip`, { domain: "vpc", networkInterface: "eni-0123456789abcdef0", tags: (host.inputs as Inputs).tags }, host)];
        } },
    ],
    "aws-lb-listener-enforce-https": [
        { name: "protocol HTTP, forwarding", apply: set(LISTENER, "", "protocol", "HTTP") },
        { name: "protocol unset (HTTP)", apply: set(LISTENER, "", "protocol", undefined) },
        { name: "HTTP redirecting to #{protocol} (the default: HTTP again)", apply: (plan) => {
            const listener = plan.inputs(LISTENER);
            listener.protocol = "HTTP";
            listener.defaultActions = [{ type: "redirect", redirect: { port: "443", statusCode: "HTTP_301" } }];
            return [plan.urn(LISTENER)];
        } },
        { name: "HTTP with a redirect to HTTPS and a forward", apply: (plan) => {
            const listener = plan.inputs(LISTENER);
            listener.protocol = "HTTP";
            listener.defaultActions = [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }, ...listener.defaultActions];
            return [plan.urn(LISTENER)];
        } },
        { name: "a second listener on HTTP 80", apply: (plan) => {
            const listener = plan.one(LISTENER);
            return [plan.add(LISTENER, `${listener.name}-http`, { ...(listener.inputs as Inputs), port: 80, protocol: "http", sslPolicy: undefined, certificateArn: undefined }, listener)];
        } },
    ],
    "aws-lb-listener-configure-tls-policy": [
        { name: "ELBSecurityPolicy-2016-08", apply: set(LISTENER, "", "sslPolicy", "ELBSecurityPolicy-2016-08") },
        { name: "sslPolicy unset (the API's default ELBSecurityPolicy-2016-08)", apply: set(LISTENER, "", "sslPolicy", undefined) },
        { name: "TLS 1.2 extended with legacy suites (Ext2)", apply: set(LISTENER, "", "sslPolicy", "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06") },
        { name: "TLS 1.1 and up (TLS13-1-1)", apply: set(LISTENER, "", "sslPolicy", "ELBSecurityPolicy-TLS13-1-1-2021-06") },
        { name: "TLS 1.2 only, 2017 (ELBSecurityPolicy-TLS-1-2-2017-01)", apply: set(LISTENER, "", "sslPolicy", "ELBSecurityPolicy-TLS-1-2-2017-01") },
    ],
    "aws-lb-loadbalancer-enable-drop-invalid-headers": [
        { name: "dropInvalidHeaderFields false", apply: set(LOAD_BALANCER, "", "dropInvalidHeaderFields", false) },
        { name: "dropInvalidHeaderFields unset (AWS default false)", apply: set(LOAD_BALANCER, "", "dropInvalidHeaderFields", undefined) },
        { name: "dropInvalidHeaderFields \"true\" (a string)", apply: set(LOAD_BALANCER, "", "dropInvalidHeaderFields", "true") },
    ],
    "aws-lb-loadbalancer-configure-cloudflare-only": [
        { name: "inline 443 from 0.0.0.0/0", apply: inline("lb-sg", { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] }) },
        { name: "inline 443 from the VPC's range", apply: inline("lb-sg", { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["10.10.0.0/16"] }) },
        { name: "inline 443 from another group", apply: inline("lb-sg", { protocol: "tcp", fromPort: 443, toPort: 443, securityGroups: ["pakashop-production-backend-sg-id"] }) },
        { name: "inline 443 from a prefix list", apply: inline("lb-sg", { protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: ["pl-0123456789abcdef0"] }) },
        { name: "inline 443 from an IPv6 range outside Cloudflare's", apply: inline("lb-sg", { protocol: "tcp", fromPort: 443, toPort: 443, ipv6CidrBlocks: ["2001:4860::/32"] }) },
        { name: "SecurityGroupRule 443 from 0.0.0.0/1", apply: separate(SG_RULE, "lb-sg", { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/1"] }) },
        { name: "SecurityGroupIngressRule 443 from 8.8.8.0/24", apply: separate(SG_INGRESS, "lb-sg", { ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "8.8.8.0/24" }) },
        { name: "no security groups (the VPC's default group)", apply: set(LOAD_BALANCER, "", "securityGroups", []) },
        { name: "a group from outside the stack", apply: set(LOAD_BALANCER, "", "securityGroups", ["sg-0123456789abcdef0"]) },
        { name: "a second group of the stack that admits everyone", apply: (plan) => {
            const lb = plan.one(LOAD_BALANCER);
            const group = plan.one(SG, "lb-sg");
            const urn = plan.add(SG, `${group.name}-mutation`, { ...(group.inputs as Inputs), ingress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }] }, group);
            (lb.inputs as Inputs).securityGroups = [...(lb.inputs as Inputs).securityGroups, `${group.name}-mutation-id`];
            return [urn];
        } },
    ],
    "pakashop-fleet-configure-zone-spread": [
        { name: "both hosts in one zone", apply: (plan) => [...set(INSTANCE, "backend-2-instance", "availabilityZone", (plan.inputs(INSTANCE, "backend-1-instance")).availabilityZone)(plan), ""] },
        { name: "a host's zone left to its subnet", apply: (plan) => [...set(INSTANCE, "backend-2-instance", "availabilityZone", undefined)(plan), ""] },
        { name: "one host untagged (not counted as the fleet's)", apply: (plan) => [...set(INSTANCE, "backend-2-instance", "tags.Role", "worker")(plan), ""] },
        { name: "one host removed", apply: removed(INSTANCE, "backend-2-instance", onStack) },
    ],
    "aws-ec2-subnet-disallow-public-ip-on-launch": [
        { name: "public subnet maps public IPs", apply: set(SUBNET, "public-0", "mapPublicIpOnLaunch", true) },
        { name: "private subnet maps public IPs", apply: set(SUBNET, "private-0", "mapPublicIpOnLaunch", true) },
        { name: "second public subnet maps public IPs", apply: set(SUBNET, "public-1", "mapPublicIpOnLaunch", true) },
    ],
    "aws-ec2-securitygroup-disallow-public-ssh": [
        { name: "inline 22 from 0.0.0.0/0", apply: inline("backend-sg", { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }) },
        { name: "inline 22 from 0.0.0.0/1 + 128.0.0.0/1", apply: inline("cache-host-sg", { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/1", "128.0.0.0/1"] }) },
        { name: "inline 22 from 2000::/3", apply: inline("search-host-sg", { protocol: "tcp", fromPort: 22, toPort: 22, ipv6CidrBlocks: ["2000::/3"] }) },
        { name: "inline protocol -1 from ::/0", apply: inline("backend-sg", { protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] }) },
        { name: "SecurityGroupIngressRule 22 from ::/0", apply: separate(SG_INGRESS, "backend-sg", { ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv6: "::/0" }) },
        { name: "SecurityGroupRule all protocols from 0.0.0.0/0", apply: separate(SG_RULE, "cache-host-sg", { protocol: "all", fromPort: 0, toPort: 65535, cidrBlocks: ["0.0.0.0/0"] }) },
    ],
    "aws-ec2-securitygroup-disallow-public-data-ports": [
        { name: "inline 5432 from 0.0.0.0/0", apply: inline("database-sg", { protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: ["0.0.0.0/0"] }) },
        { name: "inline 6379 from 0.0.0.0/1 + 128.0.0.0/1", apply: inline("cache-host-sg", { protocol: "tcp", fromPort: 6379, toPort: 6379, cidrBlocks: ["0.0.0.0/1", "128.0.0.0/1"] }) },
        { name: "inline port range 7000-8000 from 2000::/3", apply: inline("search-host-sg", { protocol: "tcp", fromPort: 7000, toPort: 8000, ipv6CidrBlocks: ["2000::/3"] }) },
        { name: "inline protocol -1 from 0.0.0.0/0", apply: inline("database-sg", { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }) },
        { name: "SecurityGroupIngressRule 7700 from ::/0", apply: separate(SG_INGRESS, "search-host-sg", { ipProtocol: "tcp", fromPort: 7700, toPort: 7700, cidrIpv6: "::/0" }) },
        { name: "SecurityGroupRule 6379 from 0.0.0.0/0", apply: separate(SG_RULE, "cache-host-sg", { protocol: "tcp", fromPort: 6379, toPort: 6379, cidrBlocks: ["0.0.0.0/0"] }) },
    ],
    "aws-ec2-securitygroup-enforce-cloudflare-https": [
        { name: "inline 443 from 0.0.0.0/0", apply: inline("backend-sg", { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] }) },
        { name: "inline 400-500 from 2000::/3", apply: inline("backend-sg", { protocol: "tcp", fromPort: 400, toPort: 500, ipv6CidrBlocks: ["2000::/3"] }) },
        { name: "SecurityGroupIngressRule 443 from 8.8.0.0/16", apply: separate(SG_INGRESS, "backend-sg", { ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "8.8.0.0/16" }) },
        { name: "SecurityGroupRule all protocols from 0.0.0.0/1", apply: separate(SG_RULE, "backend-sg", { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/1"] }) },
        { name: "inline 80 from 0.0.0.0/0", apply: inline("backend-sg", { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"] }) },
        { name: "inline 3000-3999 from 0.0.0.0/0", apply: inline("backend-sg", { protocol: "tcp", fromPort: 3000, toPort: 3999, cidrBlocks: ["0.0.0.0/0"] }) },
        { name: "SecurityGroupIngressRule 8080 from Cloudflare's ranges", apply: separate(SG_INGRESS, "backend-sg", { ipProtocol: "tcp", fromPort: 8080, toPort: 8080, cidrIpv4: "173.245.48.0/20" }) },
        { name: "DefaultSecurityGroup ingress 443 from 0.0.0.0/0", apply: (plan) => {
            const group = plan.one(SG, "backend-sg");
            return [plan.add(DEFAULT_SG, "pakashop-production-mutation-default-sg", { vpcId: (group.inputs as Inputs).vpcId,
                ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] }] }, group)];
        } },
    ],
    "aws-ec2-instance-configure-imds-hop-limit": [
        { name: "hop limit 2", apply: set(INSTANCE, "backend-1-instance", "metadataOptions.httpPutResponseHopLimit", 2) },
        { name: "hop limit unset", apply: set(INSTANCE, "cache-host-instance", "metadataOptions.httpPutResponseHopLimit", undefined) },
        { name: "hop limit \"64\"", apply: set(INSTANCE, "search-host-instance", "metadataOptions.httpPutResponseHopLimit", "64") },
    ],
    "aws-iam-role-enforce-github-oidc-subject": [
        { name: "sub wildcard by StringLike", apply: trust("ci-deploy", (c) => {
            c.StringLike = { "token.actions.githubusercontent.com:sub": "repo:pakashop/pakashop-infra:*" };
            delete c.StringEquals["token.actions.githubusercontent.com:sub"];
        }) },
        { name: "sub of another repository", apply: trust("ci-deploy", (c) => {
            c.StringEquals["token.actions.githubusercontent.com:sub"] = ["repo:someone/pakashop-infra:environment:production"];
        }) },
        { name: "no sub condition (any repository)", apply: trust("backups-writer", (c) => {
            delete c.StringEquals["token.actions.githubusercontent.com:sub"];
        }) },
        { name: "sub of a branch instead of an environment", apply: trust("ci-read-only", (c) => {
            c.StringEquals["token.actions.githubusercontent.com:sub"] = ["repo:pakashop/pakashop-infra:ref:refs/heads/main"];
        }) },
        { name: "NotAction sts:AssumeRole, GitHub principal, aud only", apply: (plan) => {
            const inputs = plan.inputs("aws:iam/role:Role", "ci-deploy");
            const policy = JSON.parse(inputs.assumeRolePolicy);
            const statement = policy.Statement[0];
            delete statement.Action;
            statement.NotAction = "sts:AssumeRole";
            delete statement.Condition.StringEquals["token.actions.githubusercontent.com:sub"];
            inputs.assumeRolePolicy = JSON.stringify(policy);
            return [plan.urn("aws:iam/role:Role", "ci-deploy")];
        } },
    ],
    "aws-resource-missing-required-tags": [
        { name: "tags removed (VPC)", apply: set("aws:ec2/vpc:Vpc", "", "tags", undefined) },
        { name: "Environment tag empty (RDS)", apply: set(DB, "", "tags.Environment", "") },
        { name: "Component tag misspelt component (bucket)", apply: (plan) => {
            const tags = plan.inputs(BUCKET).tags;
            tags.component = tags.Component;
            delete tags.Component;
            return [plan.urn(BUCKET)];
        } },
    ],
    "aws-rds-instance-enable-storage-encryption": [
        { name: "storageEncrypted false", apply: set(DB, "", "storageEncrypted", false) },
        { name: "storageEncrypted unset (default false)", apply: set(DB, "", "storageEncrypted", undefined) },
        { name: "storageEncrypted null", apply: set(DB, "", "storageEncrypted", null) },
    ],
    "aws-rds-instance-disallow-public-access": [
        { name: "publiclyAccessible true", apply: set(DB, "", "publiclyAccessible", true) },
        { name: "publiclyAccessible \"true\" (the provider reads it as true)", apply: set(DB, "", "publiclyAccessible", "true") },
        { name: "publiclyAccessible true in public subnets", apply: (plan) => {
            plan.inputs("aws:rds/subnetGroup:SubnetGroup").subnetIds = ["pakashop-production-network-public-0-id", "pakashop-production-network-public-1-id"];
            return set(DB, "", "publiclyAccessible", true)(plan);
        } },
    ],
    "aws-rds-instance-configure-backup-retention": [
        { name: "7 days (below production's 30)", apply: set(DB, "", "backupRetentionPeriod", 7) },
        { name: "unset", apply: set(DB, "", "backupRetentionPeriod", undefined) },
        { name: "0 (backups off)", apply: set(DB, "", "backupRetentionPeriod", 0) },
    ],
    "aws-rds-instance-enable-deletion-protection": [
        { name: "deletionProtection false", apply: set(DB, "", "deletionProtection", false) },
        { name: "deletionProtection unset", apply: set(DB, "", "deletionProtection", undefined) },
        { name: "deletionProtection null", apply: set(DB, "", "deletionProtection", null) },
    ],
    "aws-rds-instance-enable-final-snapshot": [
        { name: "skipFinalSnapshot true", apply: set(DB, "", "skipFinalSnapshot", true) },
        { name: "finalSnapshotIdentifier removed", apply: set(DB, "", "finalSnapshotIdentifier", undefined) },
        { name: "skipFinalSnapshot \"true\"", apply: set(DB, "", "skipFinalSnapshot", "true") },
    ],
    "aws-rds-instance-enable-multi-az": [
        { name: "multiAz false", apply: set(DB, "", "multiAz", false) },
        { name: "multiAz unset", apply: set(DB, "", "multiAz", undefined) },
        { name: "multiAz null", apply: set(DB, "", "multiAz", null) },
    ],
    "aws-rds-instance-configure-engine-version": [
        { name: "engineVersion 11 (end of support)", apply: set(DB, "", "engineVersion", "11") },
        { name: "engineVersion unset (RDS picks the default)", apply: set(DB, "", "engineVersion", undefined) },
        { name: "engineVersion 9.6.24", apply: set(DB, "", "engineVersion", "9.6.24") },
    ],
    "aws-rds-parametergroup-enforce-tls": [
        { name: "rds.force_ssl 0", apply: set(PARAMS, "", "parameters.0.value", "0") },
        { name: "rds.force_ssl removed", apply: set(PARAMS, "", "parameters", []) },
        { name: "instance uses another parameter group", apply: (plan) => {
            plan.inputs(DB).parameterGroupName = "default.postgres16";
            return [plan.urn(DB), plan.urn(PARAMS)];
        } },
        { name: "a second rds.force_ssl 0 after the 1", apply: (plan) => {
            const inputs = plan.inputs(PARAMS);
            inputs.parameters = [...inputs.parameters, { applyMethod: "pending-reboot", name: "rds.force_ssl", value: "0" }];
            return [plan.urn(PARAMS)];
        } },
    ],
    "aws-s3-bucket-missing-public-access-block": [
        { name: "blockPublicPolicy false", apply: (plan) => (set(PAB, "", "blockPublicPolicy", false)(plan), bucket(plan)) },
        { name: "public access block removed", apply: removed(PAB, "", bucket) },
        { name: "public access block on another bucket", apply: (plan) => (set(PAB, "", "bucket", OTHER_BUCKET)(plan), bucket(plan)) },
        { name: "a second public access block with all flags false", apply: second(PAB, { blockPublicAcls: false, blockPublicPolicy: false, ignorePublicAcls: false, restrictPublicBuckets: false }) },
    ],
    "aws-s3-bucket-enable-versioning": [
        { name: "status Suspended", apply: (plan) => (set(VERSIONING, "", "versioningConfiguration.status", "Suspended")(plan), bucket(plan)) },
        { name: "versioning removed", apply: removed(VERSIONING, "", bucket) },
        { name: "versioning of another bucket", apply: (plan) => (set(VERSIONING, "", "bucket", OTHER_BUCKET)(plan), bucket(plan)) },
        { name: "a second versioning Suspended", apply: second(VERSIONING, { versioningConfiguration: { status: "Suspended" } }) },
    ],
    "aws-s3-bucket-enable-encryption": [
        { name: "no rules", apply: (plan) => (set(ENCRYPTION, "", "rules", [])(plan), bucket(plan)) },
        { name: "encryption configuration removed", apply: removed(ENCRYPTION, "", bucket) },
        { name: "encryption of another bucket", apply: (plan) => (set(ENCRYPTION, "", "bucket", OTHER_BUCKET)(plan), bucket(plan)) },
    ],
    "aws-s3-bucket-enforce-tls": [
        { name: "statement Allow instead of Deny", apply: (plan) => {
            const p = plan.inputs(BUCKET_POLICY);
            p.policy = p.policy.replace('"Effect":"Deny","Principal":"*","Action":"s3:*"', '"Effect":"Allow","Principal":"*","Action":"s3:*"');
            return bucket(plan);
        } },
        { name: "bucket policy removed", apply: removed(BUCKET_POLICY, "", bucket) },
        { name: "policy of another bucket", apply: (plan) => (set(BUCKET_POLICY, "", "bucket", OTHER_BUCKET)(plan), bucket(plan)) },
        { name: "Deny limited to s3:GetObject", apply: tlsStatement((s) => { s.Action = "s3:GetObject"; }) },
        { name: "Deny to one principal", apply: tlsStatement((s) => { s.Principal = { AWS: "arn:aws:iam::123456789012:role/someone" }; }) },
        { name: "Deny on another bucket's ARN", apply: tlsStatement((s) => { s.Resource = ["arn:aws:s3:::some-other-bucket", "arn:aws:s3:::some-other-bucket/*"]; }) },
        { name: "Deny on the objects only", apply: tlsStatement((s) => { s.Resource = (s.Resource as string[]).filter((r) => r.endsWith("/*")); }) },
        { name: "bucket policy not valid JSON (reported on it, no crash)", apply: (plan) => {
            const p = plan.inputs(BUCKET_POLICY);
            p.policy = p.policy.slice(0, -1);
            return [plan.urn(BUCKET_POLICY)];
        } },
    ],
    "aws-s3-bucket-configure-lifecycle": [
        { name: "daily/ rule Disabled", apply: (plan) => (set(LIFECYCLE, "", "rules.0.status", "Disabled")(plan), bucket(plan)) },
        { name: "lifecycle removed", apply: removed(LIFECYCLE, "", bucket) },
        { name: "lifecycle of another bucket", apply: (plan) => (set(LIFECYCLE, "", "bucket", OTHER_BUCKET)(plan), bucket(plan)) },
    ],
    "cloudflare-zonesetting-enforce-ssl-strict": [
        { name: "ssl full", apply: set(ZONE_SETTING, "-ssl", "value", "full") },
        { name: "ssl setting removed", apply: removed(ZONE_SETTING, "-ssl", onStack) },
        { name: "ssl strict on another zone", apply: (plan) => [...set(ZONE_SETTING, "-ssl", "zoneId", OTHER_ZONE)(plan), ""] },
    ],
    "cloudflare-zonesetting-enforce-min-tls": [
        { name: "min TLS 1.0", apply: set(ZONE_SETTING, "-min-tls-version", "value", "1.0") },
        { name: "min TLS setting removed", apply: removed(ZONE_SETTING, "-min-tls-version", onStack) },
        { name: "min TLS 1.2 on another zone", apply: (plan) => [...set(ZONE_SETTING, "-min-tls-version", "zoneId", OTHER_ZONE)(plan), ""] },
    ],
    "cloudflare-zone-enable-always-https": [
        { name: "always_use_https off", apply: (plan) => [...set(ZONE_SETTING, "-always-use-https", "value", "off")(plan), ""] },
        { name: "always_use_https removed", apply: removed(ZONE_SETTING, "-always-use-https", onStack) },
        { name: "always_use_https on another zone", apply: (plan) => [...set(ZONE_SETTING, "-always-use-https", "zoneId", OTHER_ZONE)(plan), ""] },
    ],
    "cloudflare-ruleset-enable-owasp": [
        { name: "rule disabled", apply: wafRule("owasp-core", (r) => { r.enabled = false; }) },
        { name: "expression false (matches nothing)", apply: wafRule("owasp-core", (r) => { r.expression = "false"; }) },
        { name: "overridden to log only", apply: wafRule("owasp-core", (r) => { r.actionParameters.overrides = { action: "log" }; }) },
        { name: "rule removed", apply: (plan) => {
            const waf = plan.inputs(RULESET, "-waf");
            waf.rules = waf.rules.filter((r: Inputs) => r.ref !== "owasp-core");
            return ["", plan.urn(RULESET, "-waf")];
        } },
        { name: "skip ruleset current before the executes", apply: skipFirst({ ruleset: "current" }) },
        { name: "skip rulesets [owasp, managed] in another ruleset of the phase", apply: skipRuleset("http_request_firewall_managed", { rulesets: [OWASP_ID, MANAGED_ID] }) },
        { name: "skip the managed phase from the custom phase", apply: skipRuleset("http_request_firewall_custom", { phases: ["http_request_firewall_managed"] }) },
        { name: "scoreThreshold 1000", apply: wafRule("owasp-core", (r) => {
            r.actionParameters.overrides = { rules: [{ id: "6179ae15870a4bb7b2d480d4843b323c", scoreThreshold: 1000 }] };
        }) },
        { name: "scoreThreshold 60 (Low, weaker than the default 40)", apply: wafRule("owasp-core", (r) => {
            r.actionParameters.overrides = { rules: [{ id: "6179ae15870a4bb7b2d480d4843b323c", action: "block", scoreThreshold: 60 }] };
        }) },
    ],
    "cloudflare-ruleset-enable-managed": [
        { name: "rule disabled", apply: wafRule("cloudflare-managed", (r) => { r.enabled = false; }) },
        { name: "expression false (matches nothing)", apply: wafRule("cloudflare-managed", (r) => { r.expression = "false"; }) },
        { name: "overridden to log only", apply: wafRule("cloudflare-managed", (r) => { r.actionParameters.overrides = { rules: [], action: "log", enabled: true }; }) },
        { name: "ruleset on another zone", apply: (plan) => [...set(RULESET, "-waf", "zoneId", OTHER_ZONE)(plan), ""] },
        { name: "skip ruleset current before the executes", apply: skipFirst({ ruleset: "current" }) },
        { name: "skip rulesets [owasp, managed] in another ruleset of the phase", apply: skipRuleset("http_request_firewall_managed", { rulesets: [OWASP_ID, MANAGED_ID] }) },
        { name: "skip rules of the managed ruleset", apply: skipFirst({ rules: { [MANAGED_ID]: ["5de7edfa648c4d6891dc3e7f84534ffa"] } }) },
    ],
    "cloudflare-dnsrecord-enforce-proxied": [
        { name: "A record proxied false", apply: set(DNS, "-edge-api", "proxied", false) },
        { name: "A record proxied unset (default DNS only)", apply: set(DNS, "-edge-api", "proxied", undefined) },
        { name: "CNAME record proxied false", apply: set(DNS, "-edge-frontend", "proxied", false) },
    ],
    "vercel-project-configure-production-branch": [
        { name: "productionBranch main", apply: set(PROJECT, "", "gitRepository.productionBranch", "main") },
        { name: "productionBranch unset", apply: set(PROJECT, "", "gitRepository.productionBranch", undefined) },
        { name: "productionBranch refs/heads/production", apply: set(PROJECT, "", "gitRepository.productionBranch", "refs/heads/production") },
    ],
    "vercel-project-enable-preview-protection": [
        { name: "deploymentType none", apply: set(PROJECT, "", "vercelAuthentication.deploymentType", "none") },
        { name: "vercelAuthentication removed", apply: set(PROJECT, "", "vercelAuthentication", undefined) },
        { name: "camelCase standardProtectionNew (rejected by the provider)", apply: set(PROJECT, "", "vercelAuthentication.deploymentType", "standardProtectionNew") },
    ],
    "vercel-project-enable-fork-protection": [
        { name: "gitForkProtection false", apply: set(PROJECT, "", "gitForkProtection", false) },
        { name: "gitForkProtection unset", apply: set(PROJECT, "", "gitForkProtection", undefined) },
        { name: "gitForkProtection null", apply: set(PROJECT, "", "gitForkProtection", null) },
    ],
    "command-remote-enforce-host-key": [
        { name: "hostKey removed", apply: set(REMOTE, "-cache-provision", "connection.hostKey", undefined) },
        { name: "hostKey empty", apply: set(REMOTE, prepareStep("backend"), "connection.hostKey", "") },
        { name: "switch hostKey empty", apply: set(REMOTE, SWITCH, "connection.hostKey", "") },
        { name: "hostKey not a key", apply: set(REMOTE, "-search-provision", "connection.hostKey", "ssh-ed25519 not-a-key") },
        { name: "jump host without hostKey", apply: set(REMOTE, prepareStep("gateway"), "connection.proxy", { host: "203.0.113.7", user: "admin" }) },
    ],
    "command-remote-disable-secret-logging": [
        { name: "logging stdout", apply: set(REMOTE, SWITCH, "logging", "stdout") },
        { name: "logging unset (default stdoutAndStderr)", apply: set(REMOTE, SWITCH, "logging", undefined) },
        { name: "logging stdoutAndStderr", apply: set(REMOTE, "-cache-provision", "logging", "stdoutAndStderr") },
    ],
    "pakashop-rollout-enforce-tier-order": [
        { name: "the switch waits for no prepare step", apply: (plan) => {
            const step = plan.one(REMOTE, SWITCH);
            step.dependsOn = step.dependsOn.filter((d) => !d.endsWith("-prepare"));
            return [step.urn];
        } },
        { name: "one prepare step not waited for", apply: (plan) => {
            const step = plan.one(REMOTE, SWITCH);
            step.dependsOn = step.dependsOn.filter((d) => !d.endsWith(prepareStep("fraud")));
            return [step.urn];
        } },
        { name: "switching to a release no prepare step builds", apply: (plan) => {
            plan.inputs(REMOTE, prepareStep("search")).triggers[0].release = "0".repeat(20);
            return [plan.urn(REMOTE, SWITCH)];
        } },
        { name: "two tiers swapped", apply: (plan) => {
            const inputs = plan.inputs(REMOTE, SWITCH);
            inputs.create = editSwitchPlan(inputs.create, (p) => p.tiers.splice(2, 2, p.tiers[3], p.tiers[2]));
            return [plan.urn(REMOTE, SWITCH)];
        } },
        { name: "a service moved to an earlier tier", apply: (plan) => {
            const inputs = plan.inputs(REMOTE, SWITCH);
            inputs.create = editSwitchPlan(inputs.create, (p) => {
                const [, release] = Object.entries(p.tiers[3].services).find(([id]) => id === "tracking") as [string, string];
                delete p.tiers[3].services.tracking;
                p.tiers[1].services.tracking = release;
            });
            return [plan.urn(REMOTE, SWITCH)];
        } },
        { name: "two switch_tier commands swapped, the plan line left as it was", apply: (plan) => {
            const inputs = plan.inputs(REMOTE, SWITCH);
            inputs.create = swapSwitchTierCalls(inputs.create, 1, 2);
            return [plan.urn(REMOTE, SWITCH)];
        } },
        { name: "another release in the switch's release table", apply: (plan) => {
            const inputs = plan.inputs(REMOTE, SWITCH);
            inputs.create = String(inputs.create).replace(/^(declare -A release_of=\(\['[^']+'\]=')[0-9a-f]+/m, "$1" + "f".repeat(20));
            return [plan.urn(REMOTE, SWITCH)];
        } },
        { name: "the switch_tier commands removed", apply: (plan) => {
            const inputs = plan.inputs(REMOTE, SWITCH);
            inputs.create = String(inputs.create).split("\n").filter((line: string) => !line.startsWith("switch_tier ")).join("\n");
            return [plan.urn(REMOTE, SWITCH)];
        } },
        { name: "the plan removed from the switch", apply: (plan) => {
            const inputs = plan.inputs(REMOTE, SWITCH);
            inputs.create = String(inputs.create).split("\n").filter((line: string) => !line.includes("pakashop-switch-plan")).join("\n");
            return [plan.urn(REMOTE, SWITCH)];
        } },
    ],
    "pakashop-rollout-enforce-branch": [
        { name: "branch main", apply: (plan) => {
            plan.inputs(REMOTE, prepareStep("backend")).triggers[0].branch = "main";
            return [plan.urn(REMOTE, prepareStep("backend"))];
        } },
        { name: "triggers removed", apply: set(REMOTE, prepareStep("gateway"), "triggers", undefined) },
        { name: "first trigger a plain string", apply: (plan) => {
            const triggers = plan.inputs(REMOTE, prepareStep("config")).triggers;
            triggers[0] = "production";
            return [plan.urn(REMOTE, prepareStep("config"))];
        } },
    ],
};

/**
 * Mutations the pack does not catch yet (policy: mutation names), each with the reason. They
 * run as `it.skip` and show as "pending" in the table; remove an entry once its policy checks
 * the effect.
 */
const PENDING: Record<string, Record<string, string>> = {};

describe("policy mutations (npm run policy -- --plan over a mutated production plan)", function () {
    this.timeout(180_000);
    let saved: string;
    const results: { policy: string; mutation: string; result: "caught" | "MISSED" | "pending" }[] = [];

    before(() => {
        const plan = exec(process.execPath, ["--require", path.join(REPO_ROOT, "tools/register.js"), path.join(REPO_ROOT, "tools/plan.ts"),
            "--stack", "production", "--format", "json", "--mode", "applied"], { cwd: REPO_ROOT });
        assert.equal(plan.status, 0, plan.output);
        saved = plan.output;
    });

    after(() => {
        if (results.length === 0) return;
        const width = Math.max(...ALL_POLICIES.map((p) => p.name.length));
        const lines = ["", "  policy".padEnd(width + 2) + "  caught / mutations  (pending: not caught yet)"];
        for (const policy of ALL_POLICIES) {
            const own = results.filter((r) => r.policy === policy.name);
            const caught = own.filter((r) => r.result === "caught").length;
            const pending = own.filter((r) => r.result === "pending").map((r) => r.mutation);
            const missed = own.filter((r) => r.result === "MISSED").map((r) => r.mutation);
            lines.push(`  ${policy.name.padEnd(width)}  ${caught} / ${own.length}${pending.length ? `  pending: ${pending.join("; ")}` : ""}${missed.length ? `  MISSED: ${missed.join("; ")}` : ""}`);
        }
        console.log(lines.join("\n"));
    });

    const fresh = () => new Plan(JSON.parse(saved));

    it("the unmutated plan passes every policy", async () => {
        const judged = await judgePlan(JSON.parse(saved));
        assert.deepEqual(judged.violations.filter((v) => v.enforcementLevel === "mandatory"), []);
    });

    it("every policy of the pack has at least three mutations, and every mutation names a policy of the pack", () => {
        const names = ALL_POLICIES.map((p) => p.name);
        assert.deepEqual(names.filter((n) => (MUTATIONS[n]?.length ?? 0) < 3), [], "policies without three mutations");
        assert.deepEqual(Object.keys(MUTATIONS).filter((n) => !names.includes(n)), [], "mutations of policies not in the pack");
        for (const [policy, pending] of Object.entries(PENDING)) {
            for (const name of Object.keys(pending)) assert.ok(MUTATIONS[policy]?.some((m) => m.name === name), `PENDING names no mutation: ${policy}: ${name}`);
        }
    });

    for (const policy of ALL_POLICIES) {
        describe(policy.name, () => {
            for (const mutation of MUTATIONS[policy.name] ?? []) {
                const reason = PENDING[policy.name]?.[mutation.name];
                if (reason) {
                    it.skip(`catches: ${mutation.name} (pending: ${reason})`, () => undefined);
                    results.push({ policy: policy.name, mutation: mutation.name, result: "pending" });
                    continue;
                }
                it(`catches: ${mutation.name}`, async () => {
                    const plan = fresh();
                    const on = mutation.apply(plan);
                    const judged = await judgePlan(plan.doc);
                    const own = judged.violations.filter((v) => v.policy === policy.name);
                    const caught = own.some((v) => on.includes(v.urn) && !v.message.startsWith("can't run policy"));
                    results.push({ policy: policy.name, mutation: mutation.name, result: caught ? "caught" : "MISSED" });
                    assert.ok(caught, `${policy.name} did not report "${mutation.name}" on ${on.join(" or ")}; it reported: ${JSON.stringify(own.map((v) => `${v.urn}: ${v.message}`))}`);
                    // Any mandatory violation (this policy's or another's the mutation also trips) is exit 5; none is 0.
                    assert.equal(judged.exitCode, judged.violations.some((v) => v.enforcementLevel === "mandatory") ? 5 : 0, JSON.stringify(judged.violations));
                });
            }
        });
    }
});
