import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ALL_POLICIES } from "../policy/policies";
import { OfflineRun, PlannedResource, unwrapSecrets } from "../tools/offlineRun";
import { MOCK_PRIVATE_IP } from "../tools/mocks";
import { checkPolicies, exitCodeFor, loadPackConfig, policyLevels } from "../tools/policyCheck";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import Ajv from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { exec, planStack } from "./helpers";
import { editSwitchPlan, swapSwitchTierCalls } from "./support/switchPlan";
import { ALLOWED_SSL_POLICIES, FLEET_ROLE_TAG } from "../policy/loadBalancer";
import { BACKEND_ROLE } from "../components/backendHost";
import { AWS_LB } from "../components/providerValues";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const OWASP = "4814384a9e5d4991b9815dcfc25d2f1f";
const MANAGED = "efb7b8c949ac4650a09736fc376e9aee";
const BUCKET = "pakashop-production-backups-bucket";
const ZONE = "0123456789abcdef0123456789abcdef";
const WAF = "ruleset pakashop-production-edge-waf";
const WAF_FIX = `execute it enabled, with expression "true", in http_request_firewall_managed of zone ${ZONE}, without weakening overrides.`;
const HOST_KEY_FIX = 'pin the "ssh-ed25519 AAAA..." line the host printed.';
const SSH_FIX = "admit SSH only from the deploy runner's and the Instance Connect Endpoint's security groups, with no address range.";
const EIP_FIX = "remove it: the hosts are served through the load balancer and reached by SSH from inside the VPC.";
const CLOUDFLARE_ONLY_FIX = "admit only the ranges cloudflare.getIpRanges returns.";
const ZONE_SPREAD_FIX = "set availabilityZoneCount to 2 or more and give every host its subnet's zone as availabilityZone (components/backendFleet.ts).";
const LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer";

/** A copy of the plan with plain inputs, so a case can change one thing. */
function copyOf(run: OfflineRun): OfflineRun {
    return { ...run, resources: run.resources.map((r) => ({ ...r, dependsOn: [...r.dependsOn], inputs: structuredClone(unwrapSecrets(r.inputs)) as Props })) };
}
function find(run: OfflineRun, suffix: string, type?: string): PlannedResource & { inputs: Props } {
    const found = run.resources.filter((r) => r.name.endsWith(suffix) && r.custom && (!type || r.type === type));
    assert.equal(found.length, 1, `one custom resource named *${suffix}`);
    return found[0] as PlannedResource & { inputs: Props };
}

/** One violating case: which policy, what to break, and the exact message expected. */
interface Case { policy: string; what: string; breakIt: (run: OfflineRun) => void; message: string; also?: string[]; othersToo?: boolean }

const CASES: Case[] = [
    { policy: "aws-ec2-instance-enforce-imdsv2", what: "IMDSv1 allowed", breakIt: (r) => (find(r, "-backend-1-instance").inputs.metadataOptions.httpTokens = "optional"),
        message: 'metadataOptions.httpTokens is "optional"; set it to "required" so only IMDSv2 is served.' },
    { policy: "aws-ec2-instance-missing-root-encryption", what: "an unencrypted root volume", breakIt: (r) => (find(r, "-backend-1-instance").inputs.rootBlockDevice.encrypted = false),
        message: "rootBlockDevice.encrypted is false; set it to true." },
    { policy: "aws-ec2-instance-missing-volume-encryption", what: "an unencrypted data volume", breakIt: (r) => (find(r, "-search-host-instance").inputs.ebsBlockDevices[0].encrypted = false),
        message: "ebsBlockDevices /dev/sdf is not encrypted; set encrypted: true." },
    { policy: "aws-ec2-instance-disallow-public-ip", what: "a public address on a data host", breakIt: (r) => (find(r, "-cache-host-instance").inputs.associatePublicIpAddress = true),
        message: "associatePublicIpAddress is true; set it to false." },
    { policy: "aws-ec2-subnet-disallow-public-ip-on-launch", what: "public IPs on launch", breakIt: (r) => (find(r, "-network-public-0", "aws:ec2/subnet:Subnet").inputs.mapPublicIpOnLaunch = true),
        message: "mapPublicIpOnLaunch is true on 10.10.0.0/20; set it to false." },
    // SSH comes from the runner's and the Instance Connect Endpoint's groups only: any address
    // range on port 22 is a violation, not only the whole internet.
    { policy: "aws-ec2-securitygroup-disallow-public-ssh", what: "SSH open to the world", breakIt: (r) => (find(r, "-backend-sg").inputs.ingress[0].cidrBlocks = ["0.0.0.0/0"]),
        message: `ingress[0] 22-22 admits SSH (22) from 0.0.0.0/0; ${SSH_FIX}` },
    { policy: "aws-ec2-securitygroup-disallow-public-ssh", what: "SSH from a deploy network (the retired deployCidrs) beside the groups", breakIt: (r) => {
        const rule = find(r, "-backend-sg").inputs.ingress[0];
        assert.equal(rule.fromPort, 22);
        assert.equal(rule.securityGroups.length, 2);
        rule.cidrBlocks = ["203.0.113.0/24"];
    }, message: `ingress[0] 22-22 admits SSH (22) from 203.0.113.0/24; ${SSH_FIX}` },
    { policy: "aws-ec2-securitygroup-disallow-public-ssh", what: "SSH to a data host from the VPC's own range", breakIt: (r) => {
        const rule = find(r, "-cache-host-sg").inputs.ingress[1];
        assert.equal(rule.fromPort, 22);
        rule.cidrBlocks = ["10.10.0.0/16"];
    }, message: `ingress[1] 22-22 admits SSH (22) from 10.10.0.0/16; ${SSH_FIX}` },
    { policy: "aws-ec2-securitygroup-disallow-public-ssh", what: "an all-protocols rule from an IPv6 range (it covers 22)", breakIt: (r) => {
        find(r, "-search-host-sg").inputs.ingress.push({ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["2001:db8::/48"] });
    }, message: `ingress[2] all traffic (protocol "-1") admits SSH (22) from 2001:db8::/48; ${SSH_FIX}` },
    { policy: "aws-ec2-securitygroup-disallow-public-data-ports", what: "PostgreSQL open to the world", breakIt: (r) => (find(r, "-database-sg").inputs.ingress[0].cidrBlocks = ["0.0.0.0/0"]),
        message: "ingress[0] 5432-5432 opens PostgreSQL (5432) to 0.0.0.0/0, which admit public addresses or can't be read; admit the backend host's security group only." },
    { policy: "aws-resource-missing-required-tags", what: "a VPC without its Component tag", breakIt: (r) => delete find(r, "-network-vpc").inputs.tags.Component,
        message: "tags lack Component; add them with resourceTags()." },
    { policy: "aws-rds-instance-enable-storage-encryption", what: "unencrypted storage", breakIt: (r) => (find(r, "-database-instance").inputs.storageEncrypted = false),
        message: "storageEncrypted is false; set it to true." },
    { policy: "aws-rds-instance-disallow-public-access", what: "a public database", breakIt: (r) => (find(r, "-database-instance").inputs.publiclyAccessible = true),
        message: "publiclyAccessible is true; set it to false." },
    { policy: "aws-rds-instance-configure-backup-retention", what: "14 days of backups in production", breakIt: (r) => (find(r, "-database-instance").inputs.backupRetentionPeriod = 14),
        message: "backupRetentionPeriod is 14 days; keep backups at least 30 days." },
    { policy: "aws-rds-instance-enable-deletion-protection", what: "no deletion protection", breakIt: (r) => (find(r, "-database-instance").inputs.deletionProtection = false),
        message: "deletionProtection is false; set it to true." },
    { policy: "aws-rds-instance-enable-final-snapshot", what: "no final snapshot", breakIt: (r) => (find(r, "-database-instance").inputs.skipFinalSnapshot = true),
        message: "skipFinalSnapshot is true; take a final snapshot." },
    { policy: "aws-rds-instance-enable-multi-az", what: "a single-zone database", breakIt: (r) => (find(r, "-database-instance").inputs.multiAz = false),
        message: "multiAz is false; set it to true for a standby in a second zone." },
    { policy: "aws-rds-parametergroup-enforce-tls", what: "TLS not forced", breakIt: (r) => (find(r, "-database-params").inputs.parameters[0].value = "0"),
        message: 'parameter group pakashop-production-database-params has rds.force_ssl "0"; set it to "1".' },
    { policy: "aws-s3-bucket-missing-public-access-block", what: "public policies allowed", breakIt: (r) => (find(r, "-backups-public-access").inputs.blockPublicPolicy = false),
        message: `bucket ${BUCKET} has no public access block with all four settings true; add one.` },
    { policy: "aws-s3-bucket-enable-versioning", what: "versioning suspended", breakIt: (r) => (find(r, "-backups-versioning").inputs.versioningConfiguration.status = "Suspended"),
        message: `bucket ${BUCKET} has no versioning; enable it.` },
    { policy: "aws-s3-bucket-enable-encryption", what: "no default encryption", breakIt: (r) => {
        const index = r.resources.findIndex((x) => x.name.endsWith("-backups-encryption"));
        r.resources.splice(index, 1);
    },
        message: `bucket ${BUCKET} has no default encryption; add a server-side encryption configuration.` },
    { policy: "aws-s3-bucket-enforce-tls", what: "no TLS-only statement", breakIt: (r) => {
        const policy = find(r, "-backups-tls-only").inputs;
        policy.policy = JSON.stringify({ ...JSON.parse(policy.policy), Statement: [] });
    }, message: `bucket ${BUCKET} has no policy denying requests without TLS; add one.` },
    { policy: "aws-s3-bucket-configure-lifecycle", what: "the daily/ rule disabled", breakIt: (r) => (find(r, "-backups-lifecycle").inputs.rules[0].status = "Disabled"),
        message: `bucket ${BUCKET} has no enabled lifecycle rule expiring daily/; add one.` },
    { policy: "cloudflare-zonesetting-enforce-ssl-strict", what: "SSL full", breakIt: (r) => (find(r, "-edge-ssl").inputs.value = "full"),
        message: 'zone setting pakashop-production-edge-ssl: ssl is "full"; set it to "strict".' },
    { policy: "cloudflare-zonesetting-enforce-min-tls", what: "TLS 1.0 allowed", breakIt: (r) => (find(r, "-edge-min-tls-version").inputs.value = "1.0"),
        message: 'zone setting pakashop-production-edge-min-tls-version: min_tls_version is "1.0"; set it to "1.2".' },
    { policy: "cloudflare-zone-enable-always-https", what: "always HTTPS off", breakIt: (r) => (find(r, "-edge-always-use-https").inputs.value = "off"),
        message: 'zone setting pakashop-production-edge-always-use-https: always_use_https is "off"; set it to "on".' },
    { policy: "cloudflare-ruleset-enable-owasp", what: "OWASP not executed", breakIt: (r) => (find(r, "-edge-waf").inputs.rules.splice(0, 1)),
        message: `no ruleset executes the OWASP Core Ruleset (${OWASP}) over all traffic of zone ${ZONE}; add it to the managed WAF phase (components/edge.ts).` },
    { policy: "cloudflare-ruleset-enable-managed", what: "the Cloudflare managed ruleset disabled", breakIt: (r) => (find(r, "-edge-waf").inputs.rules[1].enabled = false),
        message: `${WAF} executes the Cloudflare Managed Ruleset (${MANAGED}) but the rule is disabled; ${WAF_FIX}`,
        also: [`no ruleset executes the Cloudflare Managed Ruleset (${MANAGED}) over all traffic of zone ${ZONE}; add it to the managed WAF phase (components/edge.ts).`] },
    { policy: "cloudflare-dnsrecord-enforce-proxied", what: "the API record unproxied", breakIt: (r) => (find(r, "-edge-api").inputs.proxied = false),
        message: "CNAME record api.pakashop.store is not proxied; set proxied: true." },
    { policy: "vercel-project-configure-production-branch", what: "production building main", breakIt: (r) => (find(r, "-frontend-project").inputs.gitRepository.productionBranch = "main"),
        message: 'gitRepository.productionBranch is "main"; set it to "production".' },
    { policy: "vercel-project-enable-preview-protection", what: "previews unprotected", breakIt: (r) => (find(r, "-frontend-project").inputs.vercelAuthentication.deploymentType = "none"),
        message: 'vercelAuthentication.deploymentType is "none"; set it to "standard_protection_new".' },
    { policy: "command-remote-enforce-host-key", what: "an unpinned host key", breakIt: (r) => (find(r, "-rollout-1-bootstrap").inputs.connection.hostKey = ""),
        // The rollout connects to the backend's private address, from the in-VPC runner.
        message: `connection to ${MOCK_PRIVATE_IP} has no hostKey; pin the host's key.` },
    { policy: "command-remote-disable-secret-logging", what: "stdout logged with secrets on stdin", breakIt: (r) => (find(r, "-rollout-1-switch").inputs.logging = "stdoutAndStderr"),
        message: 'logging is "stdoutAndStderr" on a command fed secrets on stdin; set it to "stderr" or "none".' },
    { policy: "pakashop-rollout-enforce-tier-order", what: "the gateway switched before config", breakIt: (r) => {
        const step = find(r, "-rollout-1-switch");
        // The commands and the plan line agree, as a rendering from a reordered catalog would.
        const swapped = swapSwitchTierCalls(String(step.inputs.create), 0, 1);
        step.inputs.create = editSwitchPlan(swapped, (plan) => plan.tiers.splice(0, 2, plan.tiers[1], plan.tiers[0]));
    }, message: "pakashop-production-rollout-1-switch switches the tiers as gateway -> config -> core -> supporting; section 3.2 is config -> gateway -> core -> supporting." },
    { policy: "pakashop-rollout-enforce-branch", what: "a step deploying main in production", breakIt: (r) => {
        const step = find(r, "-rollout-1-config-prepare");
        const [summary, ...rest] = step.inputs.triggers as Record<string, unknown>[];
        step.inputs.triggers = [{ ...summary, branch: "main" }, ...rest];
    }, message: "pakashop-production-rollout-1-config-prepare deploys branch main; this stack deploys production." },
    { policy: "pakashop-rollout-enforce-branch", what: "a prepare step that does not say its branch", breakIt: (r) => {
        const step = find(r, "-rollout-1-gateway-prepare");
        const [summary, ...rest] = step.inputs.triggers as Record<string, unknown>[];
        step.inputs.triggers = [{ ...summary, branch: undefined }, ...rest];
    }, message: "pakashop-production-rollout-1-gateway-prepare does not say which branch it deploys (triggers[0].branch); prepare steps must come from ServiceRollout." },
    // Security groups: every way AWS lets an ingress rule be written, judged by address coverage.
    ...([
        ["a separate SecurityGroupIngressRule from ::/0", { type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", inputs: { ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv6: "::/0" } }, "ingress rule 22-22 admits SSH (22) from ::/0"],
        ["a SecurityGroupIngressRule with protocol -1 from 0.0.0.0/1", { type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", inputs: { ipProtocol: "-1", cidrIpv4: "0.0.0.0/1" } }, 'ingress rule all traffic (protocol "-1") admits SSH (22) from 0.0.0.0/1'],
        ["a SecurityGroupRule 0-65535 from 2000::/3", { type: "aws:ec2/securityGroupRule:SecurityGroupRule", inputs: { type: "ingress", protocol: "tcp", fromPort: 0, toPort: 65535, ipv6CidrBlocks: ["2000::/3"] } }, "ingress rule 0-65535 admits SSH (22) from 2000::/3"],
        ["a SecurityGroupRule protocol all from 0::0/0", { type: "aws:ec2/securityGroupRule:SecurityGroupRule", inputs: { type: "ingress", protocol: "all", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["0::0/0"] } }, 'ingress rule all traffic (protocol "all") admits SSH (22) from 0::0/0'],
        ["a prefix list on 20-30", { type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", inputs: { ipProtocol: "6", fromPort: 20, toPort: 30, prefixListId: "pl-0123" } }, "ingress rule 20-30 admits SSH (22) from prefix list pl-0123"],
    ] as const).map(([what, rule, message]): Case => ({ policy: "aws-ec2-securitygroup-disallow-public-ssh", what, breakIt: (r) => addRule(r, rule.type, rule.inputs), message: `${message}; ${SSH_FIX}`, othersToo: true })),
    ...([
        ["Redis from 0.0.0.0/1 and 128.0.0.0/1 (the internet in two halves)", { protocol: "tcp", fromPort: 6379, toPort: 6379, cidrBlocks: ["0.0.0.0/1", "128.0.0.0/1"] }, "ingress[2] 6379-6379 opens Redis (6379) to 0.0.0.0/1, 128.0.0.0/1"],
        ["Meilisearch in a range 7000-8000 from 2000::/3", { protocol: "tcp", fromPort: 7000, toPort: 8000, ipv6CidrBlocks: ["2000::/3"] }, "ingress[2] 7000-8000 opens Meilisearch (7700) to 2000::/3"],
        ["Redis from an octal-looking 010.010.0.0/16 (inet_aton reads it as 8.8.0.0/16)", { protocol: "6", fromPort: 6379, toPort: 6379, cidrBlocks: ["010.010.0.0/16"] }, "ingress[2] 6379-6379 opens Redis (6379) to 010.010.0.0/16"],
    ] as const).map(([what, rule, message]): Case => ({ policy: "aws-ec2-securitygroup-disallow-public-data-ports", what,
        breakIt: (r) => find(r, "-cache-host-sg").inputs.ingress.push({ ...rule }),
        message: `${message}, which admit public addresses or can't be read; admit the backend host's security group only.`, othersToo: true })),
    { policy: "aws-ec2-securitygroup-disallow-public-data-ports", what: "PostgreSQL from ::/0 by a SecurityGroupIngressRule", breakIt: (r) => addRule(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", { ipProtocol: "tcp", fromPort: 5432, toPort: 5432, cidrIpv6: "::/0" }),
        message: "ingress rule 5432-5432 opens PostgreSQL (5432) to ::/0, which admit public addresses or can't be read; admit the backend host's security group only." },
    // The load balancer's group admits 443 from Cloudflare's ranges: widening it fails this policy and
    // aws-lb-loadbalancer-configure-cloudflare-only (its own cases below).
    ...([
        ["0.0.0.0/0 beside Cloudflare's ranges", (rule: Props) => rule.cidrBlocks.push("0.0.0.0/0"), "0.0.0.0/0"],
        ["a range wider than Cloudflare's (104.0.0.0/8)", (rule: Props) => (rule.cidrBlocks[0] = "104.0.0.0/8"), "104.0.0.0/8"],
        ["an IPv6 range outside Cloudflare's (2001:4860::/32)", (rule: Props) => (rule.ipv6CidrBlocks = ["2001:4860::/32"]), "2001:4860::/32"],
    ] as const).map(([what, change, range]): Case => ({ policy: "aws-ec2-securitygroup-enforce-cloudflare-https", what, breakIt: (r) => change(find(r, "-lb-sg").inputs.ingress[0]),
        message: `ingress[0] 443-443 admits HTTPS (443) from ${range}, outside Cloudflare's ranges; admit only the ranges cloudflare.getIpRanges returns.`, othersToo: true })),
    ...([
        ["HTTP (80) from 0.0.0.0/0", { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"] }, "ingress[2] 80-80 opens ports 80-80 to 0.0.0.0/0"],
        ["3000-3999 from ::/0", { protocol: "tcp", fromPort: 3000, toPort: 3999, ipv6CidrBlocks: ["::/0"] }, "ingress[2] 3000-3999 opens ports 3000-3999 to ::/0"],
        ["8080 from a Cloudflare range", { protocol: "tcp", fromPort: 8080, toPort: 8080, cidrBlocks: ["173.245.48.0/20"] }, "ingress[2] 8080-8080 opens ports 8080-8080 to 173.245.48.0/20"],
    ] as const).map(([what, rule, message]): Case => ({ policy: "aws-ec2-securitygroup-enforce-cloudflare-https", what, breakIt: (r) => find(r, "-backend-sg").inputs.ingress.push({ ...rule }),
        message: `${message}, which admit public addresses or can't be read; only HTTPS (443) from Cloudflare's ranges may be open to public addresses: admit everything else from security groups.` })),
    // Hosts get no public address: not by the subnet's default, not by an Elastic IP.
    { policy: "aws-ec2-instance-disallow-public-ip", what: "a backend host leaving it to the subnet (unset)", breakIt: (r) => delete find(r, "-backend-2-instance").inputs.associatePublicIpAddress,
        message: "associatePublicIpAddress is undefined, so the subnet's mapPublicIpOnLaunch decides; set it to false." },
    { policy: "aws-ec2-instance-disallow-public-ip", what: "an Elastic IP on a backend host (the single host's old design)", breakIt: (r) => addResource(r, "aws:ec2/eip:Eip", "pakashop-production-backend-1-eip",
        { domain: "vpc", instance: "pakashop-production-backend-1-instance-id", tags: find(r, "-backend-1-instance").inputs.tags }),
        message: `instance is "pakashop-production-backend-1-instance-id": this Elastic IP gives an instance a public address; ${EIP_FIX}` },
    { policy: "aws-ec2-instance-disallow-public-ip", what: "an EIP association on a network interface", breakIt: (r) => addResource(r, "aws:ec2/eipAssociation:EipAssociation", "extra-eip-association",
        { allocationId: "eipalloc-0123456789abcdef0", networkInterfaceId: "eni-0123456789abcdef0" }),
        message: `networkInterfaceId is "eni-0123456789abcdef0": this EIP association gives a network interface a public address; ${EIP_FIX}` },
    // The load balancer: HTTPS only, a current TLS policy, invalid headers dropped.
    ...([
        ["an HTTP listener forwarding", (l: Props) => (l.protocol = "HTTP"), 'protocol is "HTTP" with default actions [forward]'],
        ["a listener without a protocol (HTTP)", (l: Props) => delete l.protocol, "protocol is unset (HTTP) with default actions [forward]"],
        ["an HTTP listener redirecting to the request's own protocol (#{protocol}, the default)", (l: Props) => {
            l.protocol = "HTTP";
            l.defaultActions = [{ type: "redirect", redirect: { port: "443", statusCode: "HTTP_301" } }];
        }, 'protocol is "HTTP" with default actions [redirect]'],
    ] as const).map(([what, change, message]): Case => ({ policy: "aws-lb-listener-enforce-https", what, breakIt: (r) => change(find(r, "-lb-https").inputs),
        message: `${message}; set protocol "HTTPS", or make an HTTP listener's only default action a redirect with protocol "HTTPS".` })),
    ...([
        ["ELBSecurityPolicy-2016-08 (TLS 1.0 and up)", "ELBSecurityPolicy-2016-08", '"ELBSecurityPolicy-2016-08"'],
        ["an Ext policy (TLS 1.2 extended with legacy suites)", "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", '"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06"'],
        ["no policy (the API's default)", undefined, "unset (AWS then applies ELBSecurityPolicy-2016-08, which admits TLS 1.0 and 1.1)"],
    ] as const).map(([what, policy, shown]): Case => ({ policy: "aws-lb-listener-configure-tls-policy", what, breakIt: (r) => {
        const listener = find(r, "-lb-https").inputs;
        if (policy === undefined) delete listener.sslPolicy;
        else listener.sslPolicy = policy;
    }, message: `sslPolicy is ${shown}, not a current TLS 1.3/1.2 policy; set it to "ELBSecurityPolicy-TLS13-1-2-2021-06" (AWS's recommended policy) or another of ALLOWED_SSL_POLICIES (policy/loadBalancer.ts).` })),
    ...([false, undefined] as const).map((value): Case => ({ policy: "aws-lb-loadbalancer-enable-drop-invalid-headers", what: `dropInvalidHeaderFields ${value}`,
        breakIt: (r) => (find(r, "-lb", LOAD_BALANCER).inputs.dropInvalidHeaderFields = value),
        message: `dropInvalidHeaderFields is ${value}; set it to true so requests with invalid header names are not passed to the hosts.` })),
    // Only Cloudflare reaches the load balancer: any other source of its groups, however written.
    ...([
        ["a private range beside Cloudflare's (10.10.0.0/16)", (g: Props) => g.ingress[0].cidrBlocks.push("10.10.0.0/16"), "ingress[0] 443-443 admits 10.10.0.0/16", false],
        ["0.0.0.0/0 beside Cloudflare's ranges", (g: Props) => g.ingress[0].cidrBlocks.push("0.0.0.0/0"), "ingress[0] 443-443 admits 0.0.0.0/0", true],
        ["a source security group (the fleet's)", (g: Props) => g.ingress.push({ protocol: "tcp", fromPort: 443, toPort: 443, securityGroups: ["pakashop-production-backend-sg-id"] }),
            "ingress[1] 443-443 admits 1 source security group", false],
        ["the group itself (self)", (g: Props) => g.ingress.push({ protocol: "tcp", fromPort: 443, toPort: 443, self: true }), "ingress[1] 443-443 admits the group itself (self)", false],
        ["a prefix list", (g: Props) => g.ingress.push({ protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: ["pl-0123456789abcdef0"] }),
            "ingress[1] 443-443 admits prefix list pl-0123456789abcdef0", true],
    ] as const).map(([what, change, message, othersToo]): Case => ({ policy: "aws-lb-loadbalancer-configure-cloudflare-only", what, breakIt: (r) => change(find(r, "-lb-sg").inputs),
        message: `security group pakashop-production-lb-sg of internet-facing load balancer pakashop-production-lb: ${message}, outside Cloudflare's published ranges; ${CLOUDFLARE_ONLY_FIX}`, othersToo })),
    { policy: "aws-lb-loadbalancer-configure-cloudflare-only", what: "a SecurityGroupIngressRule on the load balancer's group from 8.8.8.0/24",
        breakIt: (r) => addRule(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", { securityGroupId: "pakashop-production-lb-sg-id", ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "8.8.8.0/24" }),
        message: `security group pakashop-production-lb-sg of internet-facing load balancer pakashop-production-lb: ingress rule 443-443 (extra-rule) admits 8.8.8.0/24, outside Cloudflare's published ranges; ${CLOUDFLARE_ONLY_FIX}`, othersToo: true },
    { policy: "aws-lb-loadbalancer-configure-cloudflare-only", what: "a load balancer without security groups (the VPC's default group)", breakIt: (r) => (find(r, "-lb", LOAD_BALANCER).inputs.securityGroups = []),
        message: `load balancer pakashop-production-lb has no securityGroups, so AWS gives it the VPC's default security group; give it a group of its own and ${CLOUDFLARE_ONLY_FIX}` },
    { policy: "aws-lb-loadbalancer-configure-cloudflare-only", what: "a load balancer on a group from outside the stack", breakIt: (r) => (find(r, "-lb", LOAD_BALANCER).inputs.securityGroups = ["sg-0123456789abcdef0"]),
        message: `load balancer pakashop-production-lb uses security group "sg-0123456789abcdef0", which is not a group of this stack, so what it admits can't be checked; use a group of the stack and ${CLOUDFLARE_ONLY_FIX}` },
    // Production's fleet: two hosts at least, in two zones at least (policy/production.json).
    { policy: "pakashop-fleet-configure-zone-spread", what: "both hosts in one zone", breakIt: (r) => (find(r, "-backend-2-instance").inputs.availabilityZone = "ap-south-1a"),
        message: `the backend fleet spans 1 availability zone (pakashop-production-backend-1-instance: ap-south-1a, pakashop-production-backend-2-instance: ap-south-1a); this stack needs at least 2: ${ZONE_SPREAD_FIX}` },
    { policy: "pakashop-fleet-configure-zone-spread", what: "a host whose zone is left to its subnet", breakIt: (r) => delete find(r, "-backend-2-instance").inputs.availabilityZone,
        message: `the backend fleet spans 1 availability zone (pakashop-production-backend-1-instance: ap-south-1a, pakashop-production-backend-2-instance: no availabilityZone); this stack needs at least 2: ${ZONE_SPREAD_FIX}` },
    { policy: "pakashop-fleet-configure-zone-spread", what: "one host left in the fleet (the other untagged)", breakIt: (r) => (find(r, "-backend-2-instance").inputs.tags.Role = "worker"),
        message: "the backend fleet has 1 instance tagged Role=backend (pakashop-production-backend-1-instance); this stack needs at least 2: set pakashop-infra:backendHosts to 2 or more.",
        also: [`the backend fleet spans 1 availability zone (pakashop-production-backend-1-instance: ap-south-1a); this stack needs at least 2: ${ZONE_SPREAD_FIX}`] },
    ...([[2, "2"], ["2", '"2"'], [undefined, "undefined"]] as const).map(([hops, shown]): Case => ({ policy: "aws-ec2-instance-configure-imds-hop-limit", what: `hop limit ${shown}`,
        breakIt: (r) => (find(r, "-backend-1-instance").inputs.metadataOptions.httpPutResponseHopLimit = hops),
        message: `metadataOptions.httpPutResponseHopLimit is ${shown === "undefined" ? "undefined" : shown}; set it to 1.` })),
    ...([
        ["a StringLike subject", (c: Props) => { c.StringLike = { "token.actions.githubusercontent.com:sub": c.StringEquals["token.actions.githubusercontent.com:sub"] }; delete c.StringEquals["token.actions.githubusercontent.com:sub"]; },
            ["Statement[0] tests token.actions.githubusercontent.com:sub with StringLike; test GitHub's claims with StringEquals only (no StringLike, no IgnoreCase, no set operators).",
                'Statement[0] does not require a subject; require StringEquals token.actions.githubusercontent.com:sub = "repo:<owner>/<name>:environment:<env>".']],
        ["a wildcard subject", (c: Props) => (c.StringEquals["token.actions.githubusercontent.com:sub"] = "repo:pakashop/pakashop-infra:*"),
            ['Statement[0] admits subject "repo:pakashop/pakashop-infra:*"; name exactly one repository and environment: "repo:<owner>/<name>:environment:<env>", no wildcards.']],
        ["another repository", (c: Props) => (c.StringEquals["token.actions.githubusercontent.com:sub"] = ["repo:evil/pakashop-infra:environment:production"]),
            ["Statement[0] admits subject repo:evil/pakashop-infra:environment:production of repository evil/pakashop-infra; only pakashop/pakashop-infra may assume this stack's roles."]],
        ["a branch subject", (c: Props) => (c.StringEquals["token.actions.githubusercontent.com:sub"] = "repo:pakashop/pakashop-infra:ref:refs/heads/production"),
            ['Statement[0] admits subject "repo:pakashop/pakashop-infra:ref:refs/heads/production"; name exactly one repository and environment: "repo:<owner>/<name>:environment:<env>", no wildcards.']],
        ["no audience", (c: Props) => delete c.StringEquals["token.actions.githubusercontent.com:aud"],
            ['Statement[0] requires aud null; require StringEquals token.actions.githubusercontent.com:aud = "sts.amazonaws.com".']],
    ] as [string, (c: Props) => void, string[]][]).map(([what, change, messages]): Case => ({ policy: "aws-iam-role-enforce-github-oidc-subject", what,
        breakIt: (r) => changeTrust(r, change), message: messages[0], also: messages.slice(1) })),
    ...(["15", "12.4", "9.6", undefined] as const).map((version): Case => ({ policy: "aws-rds-instance-configure-engine-version", what: `engine version ${version}`,
        breakIt: (r) => {
            find(r, "-database-instance").inputs.engineVersion = version;
            // The group follows the version where there is one (else the TLS policy reports the mismatch too).
            if (version === "15") find(r, "-database-params").inputs.family = "postgres15";
        },
        othersToo: true,
        message: version === "15" ? "" : `engineVersion is ${JSON.stringify(version)}; pin a supported PostgreSQL major version (14, 15, 16, 17; RDS for PostgreSQL release calendar, https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html).` }))
        .filter((c) => c.message !== ""),
    { policy: "aws-rds-parametergroup-enforce-tls", what: "the instance on another group than the TLS one", breakIt: (r) => (find(r, "-database-instance").inputs.parameterGroupName = "default.postgres16"),
        message: 'instance pakashop-production-database-instance uses parameter group "default.postgres16", which is not a PostgreSQL group of this stack; set parameterGroupName to the stack\'s group with rds.force_ssl = 1.' },
    { policy: "aws-rds-parametergroup-enforce-tls", what: "the instance on RDS's default group", breakIt: (r) => delete find(r, "-database-instance").inputs.parameterGroupName,
        message: "instance pakashop-production-database-instance has no parameterGroupName, so it uses RDS's default group, which this stack can't hold to TLS; set parameterGroupName to a group with rds.force_ssl = 1." },
    { policy: "aws-s3-bucket-missing-public-access-block", what: "the block applied to another bucket", breakIt: (r) => (find(r, "-backups-public-access").inputs.bucket = "someone-elses-bucket"),
        message: `bucket ${BUCKET} has no public access block with all four settings true; add one.` },
    { policy: "aws-s3-bucket-enable-versioning", what: "versioning deleted", breakIt: (r) => r.resources.splice(r.resources.findIndex((x) => x.name.endsWith("-backups-versioning")), 1),
        message: `bucket ${BUCKET} has no versioning; enable it.` },
    { policy: "aws-s3-bucket-enable-encryption", what: "encryption applied to another bucket", breakIt: (r) => (find(r, "-backups-encryption").inputs.bucket = "other-bucket"),
        message: `bucket ${BUCKET} has no default encryption; add a server-side encryption configuration.` },
    { policy: "cloudflare-zonesetting-enforce-ssl-strict", what: "the SSL setting deleted", breakIt: (r) => r.resources.splice(r.resources.findIndex((x) => x.name.endsWith("-edge-ssl")), 1),
        message: `the zone ${ZONE} has no ssl setting of "strict" in this stack; deleting it leaves Cloudflare's default. Add cloudflare.ZoneSetting ssl = "strict" (components/edge.ts).` },
    { policy: "cloudflare-zonesetting-enforce-ssl-strict", what: "SSL strict on another zone", breakIt: (r) => (find(r, "-edge-ssl").inputs.zoneId = "ffffffffffffffffffffffffffffffff"),
        message: `zone setting pakashop-production-edge-ssl sets ssl on zone "ffffffffffffffffffffffffffffffff", not this stack's zone ${ZONE}; target the stack's zone.`,
        also: [`the zone ${ZONE} has no ssl setting of "strict" in this stack; deleting it leaves Cloudflare's default. Add cloudflare.ZoneSetting ssl = "strict" (components/edge.ts).`] },
    { policy: "cloudflare-zonesetting-enforce-min-tls", what: "the minimum TLS setting deleted", breakIt: (r) => r.resources.splice(r.resources.findIndex((x) => x.name.endsWith("-edge-min-tls-version")), 1),
        message: `the zone ${ZONE} has no min_tls_version setting of "1.2" in this stack; deleting it leaves Cloudflare's default. Add cloudflare.ZoneSetting min_tls_version = "1.2" (components/edge.ts).` },
    ...([
        ['expression "false"', (rule: Props) => (rule.expression = "false"), 'its expression is "false", not "true" (all traffic)'],
        ["overridden to log", (rule: Props) => (rule.actionParameters.overrides = { action: "log" }), 'overrides.action is "log"'],
        ["a category disabled", (rule: Props) => (rule.actionParameters.overrides = { categories: [{ category: "wordpress", enabled: false }] }), "overrides.categories[0] (wordpress).enabled is false"],
        ["sensitivity off", (rule: Props) => (rule.actionParameters.overrides = { sensitivityLevel: "off" }), 'overrides.sensitivityLevel is "off"'],
    ] as const).map(([what, change, why]): Case => ({ policy: "cloudflare-ruleset-enable-owasp", what, breakIt: (r) => change(find(r, "-edge-waf").inputs.rules[0]),
        message: `${WAF} executes the OWASP Core Ruleset (${OWASP}) but ${why}; ${WAF_FIX}`, also: [`no ruleset executes the OWASP Core Ruleset (${OWASP}) over all traffic of zone ${ZONE}; add it to the managed WAF phase (components/edge.ts).`] })),
    { policy: "cloudflare-ruleset-enable-managed", what: "the WAF on another zone", breakIt: (r) => (find(r, "-edge-waf").inputs.zoneId = "ffffffffffffffffffffffffffffffff"),
        message: `${WAF} executes the Cloudflare Managed Ruleset (${MANAGED}) but its ruleset targets zone "ffffffffffffffffffffffffffffffff", not this stack's zone ${ZONE}; ${WAF_FIX}`,
        also: [`no ruleset executes the Cloudflare Managed Ruleset (${MANAGED}) over all traffic of zone ${ZONE}; add it to the managed WAF phase (components/edge.ts).`], othersToo: true },
    ...([false, undefined, "true"] as const).map((value): Case => ({ policy: "vercel-project-enable-fork-protection", what: `gitForkProtection ${JSON.stringify(value)}`,
        breakIt: (r) => (find(r, "-frontend-project").inputs.gitForkProtection = value),
        message: `gitForkProtection is ${JSON.stringify(value)}; set it to true so fork pull requests with access to the project's environment variables need a team member's authorization.` })),
    ...([
        ["a key two bytes short (the old mock key)", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockHostKeyForOfflinePlansOnlyxxxxxxxxxxx", "is not valid base64"],
        ["a key of the wrong length", `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(29, 7)]).toString("base64")}`, "decodes to 48 bytes, not the 51 of an Ed25519 key"],
        ["an RSA key line", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "is not an ssh-ed25519 key line"],
        ["an ed25519 label over an RSA blob", `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from("ssh-rsa"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 1), Buffer.alloc(4)]).toString("base64")}`, "does not decode to an ssh-ed25519 key blob"],
        ["text that is not a key", "yes", "is not an ssh-ed25519 key line"],
    ] as const).map(([what, key, why]): Case => ({ policy: "command-remote-enforce-host-key", what, breakIt: (r) => (find(r, "-rollout-1-bootstrap").inputs.connection.hostKey = key),
        message: `connection to ${MOCK_PRIVATE_IP} has hostKey ${JSON.stringify(key.slice(0, 40))}, which ${why}; ${HOST_KEY_FIX}` })),
];

/** Adds a standalone security-group rule resource to the plan. */
function addRule(run: OfflineRun, type: string, inputs: Props): void {
    run.resources.push({ urn: `urn:pulumi:production::pakashop-infra::${type}::extra-rule`, type, name: "extra-rule", custom: true, parent: null, dependsOn: [], inputs: { ...inputs } });
}

/** Adds a custom resource of the stack to the plan. */
function addResource(run: OfflineRun, type: string, name: string, inputs: Props): void {
    run.resources.push({ urn: `urn:pulumi:production::pakashop-infra::${type}::${name}`, type, name, custom: true, parent: null, dependsOn: [], inputs });
}

/** Changes the condition of the deploy role's trust policy. */
function changeTrust(run: OfflineRun, change: (condition: Props) => void): void {
    const role = find(run, "-ci-deploy", "aws:iam/role:Role").inputs;
    const document = JSON.parse(role.assumeRolePolicy);
    change(document.Statement[0].Condition);
    role.assumeRolePolicy = JSON.stringify(document);
}


describe("policy pack", () => {
    let production: OfflineRun;
    before(async () => {
        production = await planStack("production");
    });

    it("has at least 25 policies, named <provider>-<resource>-<verb>-<what>, each described, with severity and remediation", () => {
        assert.ok(ALL_POLICIES.length >= 25, `${ALL_POLICIES.length} policies`);
        assert.equal(new Set(ALL_POLICIES.map((p) => p.name)).size, ALL_POLICIES.length);
        for (const p of ALL_POLICIES) {
            assert.match(p.name, /^(aws|cloudflare|vercel|command|pakashop)(-[a-z0-9]+)+-(missing|disallow|enable|disable|configure|enforce)-[a-z0-9-]+$/, p.name);
            assert.match(p.description, /^Checks that /, p.name);
            assert.equal(p.enforcementLevel, "mandatory", p.name);
            assert.ok(p.severity && ["low", "medium", "high", "critical"].includes(p.severity), p.name);
            assert.ok((p.remediationSteps ?? "").length > 10, p.name);
        }
    });

    it("production's pack config makes every policy mandatory; staging relaxes two, with reasons written down", () => {
        const levels = (stack: string) => Object.fromEntries(policyLevels(loadPackConfig(stack)).map((p) => [p.name, p.enforcementLevel]));
        assert.ok(Object.values(levels("production")).every((l) => l === "mandatory"));
        const advisory = Object.entries(levels("staging")).filter(([, l]) => l !== "mandatory").map(([n]) => n).sort();
        assert.deepEqual(advisory, ["aws-rds-instance-enable-deletion-protection", "aws-rds-instance-enable-multi-az"]);
        const reasons = fs.readFileSync(path.join(REPO_ROOT, "policy", "README.md"), "utf8");
        for (const name of advisory) {
            const row = reasons.split("\n").find((line) => line.startsWith(`| \`${name}\``)) ?? "";
            const reason = row.split("|").map((cell) => cell.trim())[3] ?? "";
            assert.ok(reason.length > 30, `a reason for ${name}: ${row}`);
        }
    });

    it("each pack config's values copied from the stack file (zone, repository, environments, branch) equal the stack file's (update policy/<stack>.json with Pulumi.<stack>.yaml)", () => {
        for (const stack of ["production", "staging"]) {
            const config = loadStackConfig(stack).config;
            const setting = (key: string) => config[`pakashop-infra:${key}`];
            const pack = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "policy", `${stack}.json`), "utf8")) as Props;
            const at = `policy/${stack}.json against Pulumi.${stack}.yaml`;
            for (const name of ["cloudflare-zonesetting-enforce-ssl-strict", "cloudflare-zonesetting-enforce-min-tls", "cloudflare-zone-enable-always-https",
                "cloudflare-ruleset-enable-owasp", "cloudflare-ruleset-enable-managed"]) {
                assert.equal(pack[name]?.zoneId, setting("cloudflareZoneId"), `${at}: ${name}.zoneId is cloudflareZoneId`);
            }
            const trust = pack["aws-iam-role-enforce-github-oidc-subject"];
            assert.equal(trust?.repository, setting("workflowRepository"), `${at}: the GitHub trust policy's repository is workflowRepository`);
            // The environments components/githubAccess.ts and components/backups.ts name after the stack.
            assert.deepEqual(trust?.environments, [stack, `${stack}-read`, `${stack}-preview`, `${stack}-backup`], `${at}: the GitHub environments`);
            assert.equal(pack["pakashop-rollout-enforce-branch"]?.branch, setting("branch"), `${at}: the rollout's branch is branch`);
        }
    });

    it("the zone spread is production's: 2 hosts in 2 zones there, staging's one host (backendHosts: 1) accepted; the fleet tag and TLS policy are the program's", () => {
        const spread = (stack: string) => loadPackConfig(stack)["pakashop-fleet-configure-zone-spread"];
        assert.deepEqual(spread("production"), { enforcementLevel: "mandatory", minimumHosts: 2, minimumZones: 2 });
        assert.deepEqual(spread("staging"), { enforcementLevel: "mandatory", minimumHosts: 1, minimumZones: 1 });
        assert.equal(loadStackConfig("staging").config["pakashop-infra:backendHosts"], "1");
        assert.equal(FLEET_ROLE_TAG.value, BACKEND_ROLE);
        assert.ok(ALLOWED_SSL_POLICIES.includes(AWS_LB.sslPolicy.tls13And12));
    });

    it("accepts an HTTP listener whose only action redirects to HTTPS, and does not hold an internal load balancer to Cloudflare's ranges", async () => {
        const changed = copyOf(production);
        addResource(changed, "aws:lb/listener:Listener", "pakashop-production-lb-http", { loadBalancerArn: "pakashop-production-lb-id", port: 80, protocol: "HTTP",
            defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }], tags: find(changed, "-lb-https").inputs.tags });
        const lb = find(changed, "-lb", LOAD_BALANCER).inputs;
        lb.internal = true;
        find(changed, "-lb-sg").inputs.ingress[0].cidrBlocks.push("10.10.0.0/16");
        assert.deepEqual(await checkPolicies(changed, loadPackConfig("production")), []);
        // The same group on the internet-facing load balancer is caught (the case above).
        lb.internal = false;
        assert.deepEqual((await checkPolicies(changed, loadPackConfig("production"))).map((v) => v.policy), ["aws-lb-loadbalancer-configure-cloudflare-only"]);
    });

    it("both stacks of the real program pass with no mandatory violation", async () => {
        assert.deepEqual(await checkPolicies(production, loadPackConfig("production")), []);
        const staging = await checkPolicies(await planStack("staging"), loadPackConfig("staging"));
        assert.deepEqual(staging.map((v) => `${v.enforcementLevel} ${v.policy}`), [
            "advisory aws-rds-instance-enable-deletion-protection", "advisory aws-rds-instance-enable-multi-az",
        ]);
        assert.equal(exitCodeFor(staging), 0);
    });

    it("every policy has a violating case here", () => {
        assert.deepEqual([...new Set(CASES.map((c) => c.policy))].sort(), ALL_POLICIES.map((p) => p.name).sort());
    });

    for (const c of CASES) {
        it(`${c.policy}: catches ${c.what}, and only that`, async () => {
            const broken = copyOf(production);
            c.breakIt(broken);
            const violations = await checkPolicies(broken, loadPackConfig("production"));
            // A resource policy's message starts with the resource's name (policy/policyKit.ts).
            const named = (v: { urn: string; message: string }) => (v.urn && v.message.startsWith(`${v.urn.slice(v.urn.lastIndexOf("::") + 2)}: `)
                ? v.message.slice(v.urn.length - v.urn.lastIndexOf("::")) : v.message);
            // A wider weakness (all ports open, a zone moved) may fail other policies too: those cases say so.
            const judged = c.othersToo ? violations.filter((v) => v.policy === c.policy) : violations;
            assert.deepEqual(judged.map((v) => [v.policy, v.enforcementLevel, named(v)]), [c.message, ...(c.also ?? [])].map((m) => [c.policy, "mandatory", m]));
        });
    }

    it("a broken production plan (SSH open to the world, RDS public, SSL full) exits 5", async () => {
        const broken = copyOf(production);
        find(broken, "-backend-sg").inputs.ingress[0].cidrBlocks = ["0.0.0.0/0"];
        find(broken, "-database-instance").inputs.publiclyAccessible = true;
        find(broken, "-edge-ssl").inputs.value = "full";
        const violations = await checkPolicies(broken, loadPackConfig("production"));
        assert.deepEqual(violations.map((v) => v.policy).sort(), [
            "aws-ec2-securitygroup-disallow-public-ssh", "aws-rds-instance-disallow-public-access", "cloudflare-zonesetting-enforce-ssl-strict",
        ]);
        assert.equal(exitCodeFor(violations), 5);
    });

    it("npm run plan --format sarif validates against the SARIF 2.1.0 schema", function () {
        this.timeout(180_000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-sarif-"));
        try {
            const plan = exec(process.execPath, ["--require", path.join(REPO_ROOT, "tools/register.js"), path.join(REPO_ROOT, "tools/plan.ts"), "--stack", "staging", "--format", "sarif"], { cwd: REPO_ROOT });
            assert.equal(plan.status, 0, plan.output);
            const sarif = JSON.parse(plan.output);
            assert.equal(sarif.version, "2.1.0");
            // Staging's two advisory policies, and (as in `pulumi preview` of a new stack) the
            // policies that read values not known before the first deploy, as warnings.
            const results = sarif.runs[0].results.map((r: Props) => [r.ruleId, r.level, /^can't run policy/.test(r.message.text)]);
            assert.deepEqual(results.filter((r: unknown[]) => !r[2]).map((r: unknown[]) => r.slice(0, 2)), [
                ["aws-rds-instance-enable-deletion-protection", "warning"], ["aws-rds-instance-enable-multi-az", "warning"],
            ]);
            assert.ok(results.every((r: unknown[]) => r[1] === "warning"), JSON.stringify(results));
            // The SARIF 2.1.0 JSON schema (draft 2020-12) as Microsoft's SARIF multitool package ships it.
            const schema = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "node_modules/@microsoft/sarif-multitool-linux/sarif-2.1.0.json"), "utf8"));
            const ajv = new Ajv({ allErrors: true, strict: false });
            addFormats(ajv);
            const validate = ajv.compile(schema);
            assert.equal(validate(sarif), true, JSON.stringify(validate.errors, null, 2));
            // The schema does catch errors (the check can fail).
            const bad = { ...sarif, runs: [{ ...sarif.runs[0], results: [{ ruleId: "x", level: "bogus" }] }] };
            assert.equal(validate(bad), false);
            assert.ok((validate.errors ?? []).some((e) => e.instancePath === "/runs/0/results/0/level"));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
