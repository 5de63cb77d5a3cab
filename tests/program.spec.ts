import { strict as assert } from "assert";
import { CATALOG } from "../components/catalog";
import { OfflineRun, PlannedResource, redactSecrets, runOffline, unwrapSecrets, isSecretValue } from "../tools/offlineRun";
import { TARGET_GROUP } from "../components/targetGroupSettings";
import { elbAutonameProblem } from "../components/providerValues";
import { CLOUDFLARE_IPV4, MOCK_HOST_PUBLIC_KEY, MOCK_PRIVATE_IP, mockLoadBalancerDnsName, mockTargetGroupArn } from "../tools/mocks";
import { switchWaves } from "../tools/planModel";
import { loadStackConfig } from "../tools/stackConfig";
import { SEED_SECTION_3_2 } from "./catalog.spec";
import { byType, planStack, single } from "./helpers";

const NS = "pakashop-infra";
const REMOTE = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";
const LOCAL = "command:local:Command";
const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";
const INSTANCE = "aws:ec2/instance:Instance";
const ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment";
/** Types whose autoname is `<resource name>-<7 random characters>`, at most 32 characters in all. */
const ELB_NAMED_TYPES = ["aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"];
/** Backend hosts per committed stack (Pulumi.<stack>.yaml `backendHosts`). */
const FLEET: Record<string, number> = { staging: 1, production: 2 };
/** The backend hosts' ordinals of a fleet of `count`. */
const ordinals = (count: number) => Array.from({ length: count }, (_, i) => i + 1);
/** The EC2 hosts of a stack, by the name of their component (`pakashop-<stack>-<host>`). */
const hostsOf = (stack: string): string[] => [...ordinals(FLEET[stack]).map((n) => `backend-${n}`), "cache-host", "search-host"];
const serviceIds = Object.keys(CATALOG.services);
/** The zones the mocked getAvailabilityZones answers, first two: the VPC spans two. */
const ZONES = ["ap-south-1a", "ap-south-1b"];

function inputsOf(run: OfflineRun, name: string): Record<string, unknown> {
    const found = run.resources.find((r) => r.name === name);
    assert.ok(found, `no resource ${name}`);
    return unwrapSecrets(found.inputs) as Record<string, unknown>;
}

function countByType(run: OfflineRun): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of run.resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
    return counts;
}

/** What each host's console shows in {@link runWithDistinctHosts}: a key and an address of its own. */
const hostKeyOf = (stack: string, host: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(`pakashop-${stack}-${host}`).toString("base64")}`;
const privateIpOf = (stack: string, host: string) => `10.99.0.${11 + hostsOf(stack).indexOf(host)}`;

/**
 * The program with every host distinguishable: each instance gets a private address of its
 * own, and each `<host>-host-key` step prints a key of its own, so a connection that pins the
 * wrong host's key (or any key not read from that host's console) shows.
 */
function runWithDistinctHosts(stack: string): Promise<OfflineRun> {
    return runOffline(loadStackConfig(stack), {
        hook: async (args) => {
            const host = hostsOf(stack).find((h) => args.name === `pakashop-${stack}-${h}-instance` || args.name === `pakashop-${stack}-${h}-host-key`);
            if (!host) return undefined;
            if (args.type === INSTANCE) {
                const devices = (args.inputs.ebsBlockDevices ?? []) as Record<string, unknown>[];
                return { id: `${args.name}-id`, state: { ...args.inputs, privateIp: privateIpOf(stack, host), publicIp: "", ebsBlockDevices: devices.map((d, i) => ({ ...d, volumeId: `vol-0distinct${i}` })) } };
            }
            if (args.type === LOCAL) return { id: `${args.name}-id`, state: { ...args.inputs, stdout: `${hostKeyOf(stack, host)}\n`, stderr: "" } };
            return undefined;
        },
    });
}

/** The edges section 3.2 implies: every service of a tier depends on every service of the tier before. */
function seedTierEdges(): string[] {
    const edges: string[] = [];
    SEED_SECTION_3_2.forEach((tier, i) => {
        if (i === 0) return;
        for (const service of tier) for (const before of SEED_SECTION_3_2[i - 1]) edges.push(`${before} -> ${service}`);
    });
    return edges.sort();
}

for (const stack of ["staging", "production"]) {
    describe(`program, ${stack} stack (mocks)`, () => {
        const production = stack === "production";
        const hosts = FLEET[stack];
        const at = (suffix: string) => `pakashop-${stack}${suffix}`;
        let run: OfflineRun;
        before(async () => {
            run = await planStack(stack);
        });
        const named = (name: string): PlannedResource => {
            const found = run.resources.find((r) => r.name === name);
            assert.ok(found, `no resource ${name}`);
            return found;
        };

        it("registers exactly the expected resources", () => {
            assert.deepEqual(countByType(run), {
                "pakashop:platform:Platform": 1,
                "pakashop:network:Network": 1,
                "aws:ec2/vpc:Vpc": 1,
                "aws:ec2/internetGateway:InternetGateway": 1,
                "aws:ec2/subnet:Subnet": 4,
                "aws:ec2/routeTable:RouteTable": 3,
                "aws:ec2/routeTableAssociation:RouteTableAssociation": 4,
                "aws:ec2/natGateway:NatGateway": production ? 2 : 1,
                // The NAT gateways' only: no host has a public address (no Elastic IP).
                "aws:ec2/eip:Eip": production ? 2 : 1,
                "pakashop:hosts:BackendFleet": 1,
                "pakashop:hosts:BackendHost": hosts,
                "pakashop:hosts:DataHost": 2,
                // The Cloudflare Origin CA certificate's key only: no host key is generated any more.
                "tls:index/privateKey:PrivateKey": 1,
                // the fleet (one for every host), the load balancer, database, cache, search, deploy runner, Instance Connect Endpoint.
                "aws:ec2/securityGroup:SecurityGroup": 7,
                "aws:ec2/instance:Instance": hosts + 2,
                // The load balancer (components/loadBalancer.ts): one HTTPS listener, no HTTP one.
                "pakashop:edge:LoadBalancer": 1,
                "aws:lb/loadBalancer:LoadBalancer": 1,
                "aws:acm/certificate:Certificate": 1,
                "aws:lb/targetGroup:TargetGroup": 1,
                "aws:lb/listener:Listener": 1,
                // The listener's one rule: /healthz answered 404 by the load balancer itself.
                "aws:lb/listenerRule:ListenerRule": 1,
                [ATTACHMENT]: hosts,
                "pakashop:data:Database": 1,
                "aws:rds/subnetGroup:SubnetGroup": 1,
                "aws:rds/parameterGroup:ParameterGroup": 1,
                "aws:rds/instance:Instance": 1,
                "random:index/randomPassword:RandomPassword": 3,
                // The final snapshot's name suffix (components/database.ts).
                "random:index/randomString:RandomString": 1,
                "pakashop:data:Cache": 1,
                "pakashop:data:Search": 1,
                "pakashop:backups:Backups": 1,
                "aws:s3/bucket:Bucket": 1,
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
                "aws:s3/bucketVersioning:BucketVersioning": 1,
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
                "aws:s3/bucketPolicy:BucketPolicy": 1,
                // deploy, read-only, backup writer, runner (CodeBuild service role).
                "aws:iam/role:Role": 4,
                // backup writer, runner.
                "aws:iam/rolePolicy:RolePolicy": 2,
                "pakashop:ci:GithubAccess": 1,
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 2,
                // Each stack has an AWS account of its own, so each creates that account's provider.
                "aws:iam/openIdConnectProvider:OpenIdConnectProvider": 1,
                // The in-VPC deploy runner (components/deployRunner.ts).
                "pakashop:ci:DeployRunner": 1,
                "aws:cloudwatch/logGroup:LogGroup": 1,
                "aws:codebuild/project:Project": 1,
                "aws:codebuild/webhook:Webhook": 1,
                // The engineers' way in (components/instanceConnect.ts).
                "pakashop:access:InstanceConnect": 1,
                "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint": 1,
                "pakashop:edge:Edge": 1,
                "cloudflare:index/dnsRecord:DnsRecord": 2,
                "tls:index/certRequest:CertRequest": 1,
                "cloudflare:index/originCaCertificate:OriginCaCertificate": 1,
                ...(production ? { "cloudflare:index/zoneSetting:ZoneSetting": 3, "cloudflare:index/ruleset:Ruleset": 2 } : {}),
                "pakashop:frontend:Frontend": 1,
                ...(production ? { "vercel:index/project:Project": 1 } : {}),
                "vercel:index/projectDomain:ProjectDomain": 1,
                "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable": production ? 2 : 1,
                // One rollout per backend host.
                "pakashop:rollout:ServiceRollout": hosts,
                // Per backend host: ssh-ready, drain and return; and one host-key step per EC2 host (components/hostKey.ts).
                // Per backend host: ssh-ready, drain, return, retire; a host-key step per EC2 host.
                [LOCAL]: 4 * hosts + (hosts + 2),
                // Per backend host: bootstrap, proxy, a prepare step per service, the switch; cache and search provisioning.
                [REMOTE]: (2 + 19 + 1) * hosts + 2,
                // Per backend host, one copy of each service's packed sources (components/sources.ts).
                [COPY]: hosts,
            });
        });

        it("has one prepare step per service and host, named by host and service id, and one switch per host", () => {
            const prepares = byType(run, REMOTE).filter((r) => r.name.endsWith("-prepare")).map((r) => r.name);
            assert.deepEqual(prepares.sort(), ordinals(hosts).flatMap((n) => serviceIds.map((id) => at(`-rollout-${n}-${id}-prepare`))).sort());
            assert.deepEqual(byType(run, REMOTE).filter((r) => r.name.endsWith("-switch")).map((r) => r.name), ordinals(hosts).map((n) => at(`-rollout-${n}-switch`)));
        });

        it("the switch restarts the tiers in the order of section 3.2 (its waves give exactly the seed's tier edges)", () => {
            const waves = switchWaves(run.resources);
            const edges = waves.slice(1).flatMap((wave, i) => wave.flatMap((service) => waves[i].map((before) => `${before} -> ${service}`))).sort();
            assert.deepEqual(edges, seedTierEdges());
            // Every host's switch is the same script (the same releases, the same order).
            const scripts = new Set(byType(run, REMOTE).filter((r) => r.name.endsWith("-switch")).map((r) => JSON.stringify(unwrapSecrets(r.inputs.create))));
            assert.equal(scripts.size, 1);
        });

        it("every prepare step waits for its host's bootstrap; the bootstrap waits for its host's SSH", () => {
            assert.deepEqual(byType(run, LOCAL).map((r) => r.name).sort(), [
                ...hostsOf(stack).map((h) => at(`-${h}-host-key`)),
                ...ordinals(hosts).flatMap((n) => ["ssh-ready", "drain", "return", "retire"].map((step) => at(`-rollout-${n}-${step}`))),
            ].sort());
            for (const n of ordinals(hosts)) {
                const bootstrap = named(at(`-rollout-${n}-bootstrap`));
                assert.deepEqual(bootstrap.dependsOn, [named(at(`-rollout-${n}-ssh-ready`)).urn]);
                for (const r of run.resources.filter((x) => x.type === REMOTE && x.name.startsWith(at(`-rollout-${n}-`)) && /-(prepare|switch)$/.test(x.name))) {
                    assert.ok(r.dependsOn.includes(bootstrap.urn), `${r.name} must wait for its host's bootstrap`);
                }
            }
        });

        it("deploys the stack's branch", () => {
            const branch = production ? "production" : "main";
            for (const r of byType(run, REMOTE).filter((x) => x.name.endsWith("-prepare"))) {
                const triggers = inputsOf(run, r.name).triggers as Record<string, unknown>[];
                assert.equal(triggers[0].branch, branch, r.name);
            }
            assert.equal(run.outputs.branch, branch);
        });

        it("every EC2 instance requires IMDSv2, has an encrypted gp3 root volume, and user data with no secret and no private key", () => {
          const deployPublicKey = loadStackConfig(stack).config[`${NS}:deployPublicKey`];
          assert.match(deployPublicKey, /^ssh-ed25519 /);
          const instances = byType(run, INSTANCE);
          assert.equal(instances.length, hosts + 2);
          for (const instance of instances) {
            const inputs = instance.inputs as Record<string, unknown>;
            const backend = /-backend-\d+-instance$/.test(instance.name);
            assert.deepEqual(inputs.metadataOptions, { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
            const root = inputs.rootBlockDevice as Record<string, unknown>;
            assert.equal(root.volumeType, "gp3");
            assert.equal(root.encrypted, true);
            assert.equal(root.volumeSize, backend ? (production ? 80 : 40) : 20);
            // ReadOnlyAccess can read user data (ec2:DescribeInstanceAttribute): it holds nothing secret.
            assert.ok(!isSecretValue(inputs.userData), `${instance.name}: user data must be plain, it holds no secret`);
            assert.equal(typeof inputs.userData, "string", instance.name);
            const cloudConfig = String(inputs.userData);
            assert.doesNotMatch(cloudConfig, /PRIVATE KEY/, `${instance.name}: a private key in user data`);
            assert.doesNotMatch(cloudConfig, /ssh_keys/, `${instance.name}: user data installs a host key`);
            assert.match(cloudConfig, /^#cloud-config\n/);
            // The host makes its own ed25519 key at first boot and prints it to the console,
            // where the host-key step reads it.
            assert.deepEqual(JSON.parse(cloudConfig.replace(/^#cloud-config\n/, "")), {
                ssh_deletekeys: true,
                ssh_genkeytypes: ["ed25519"],
                ssh: { emit_keys_to_console: true },
                ssh_key_console_blacklist: [],
                ssh_authorized_keys: [deployPublicKey],
                ssh_pwauth: false,
                disable_root: true,
            });
          }
        });

        it(`runs ${hosts} backend host(s) in the private subnets, host n in zone (n-1) mod 2 named explicitly, without any public address, all in the fleet's one group`, () => {
            const privateSubnets = [0, 1].map((i) => `${at(`-network-private-${i}`)}-id`);
            const backends = byType(run, INSTANCE).filter((r) => /-backend-\d+-instance$/.test(r.name));
            assert.deepEqual(backends.map((r) => r.name), ordinals(hosts).map((n) => at(`-backend-${n}-instance`)));
            for (const n of ordinals(hosts)) {
                const inputs = inputsOf(run, at(`-backend-${n}-instance`));
                assert.equal(inputs.subnetId, privateSubnets[(n - 1) % 2], `host ${n}: a private subnet`);
                assert.equal(inputs.availabilityZone, ZONES[(n - 1) % 2], `host ${n}: its subnet's zone, set explicitly`);
                assert.equal(inputs.associatePublicIpAddress, false, `host ${n}: no public address`);
                assert.deepEqual(inputs.vpcSecurityGroupIds, [`${at("-backend-sg")}-id`]);
                assert.deepEqual(inputs.tags, { Project: "pakashop", Environment: stack, ManagedBy: "pulumi", Component: "backend", Role: "backend", Name: at(`-backend-${n}`) });
                assert.equal(named(at(`-backend-${n}-instance`)).parent, named(at(`-backend-${n}`)).urn);
                assert.equal(named(at(`-backend-${n}`)).parent, named(at("-backend")).urn);
            }
            // Every private subnet is in the zone its index says (the hosts' zones are the subnets').
            for (const i of [0, 1]) assert.equal(inputsOf(run, at(`-network-private-${i}`)).availabilityZone, ZONES[i]);
            // Production's hosts are in distinct zones (a lost zone leaves the other serving).
            const zones = backends.map((r) => (r.inputs as Record<string, unknown>).availabilityZone);
            assert.equal(new Set(zones).size, production ? 2 : 1);
            // No Elastic IP names any instance: the only ones are the NAT gateways'.
            for (const eip of byType(run, "aws:ec2/eip:Eip")) {
                assert.equal((eip.inputs as Record<string, unknown>).instance, undefined, eip.name);
                assert.match(eip.name, /-network-nat-\d$/);
            }
        });

        it("admits nothing from outside the VPC but 443 from Cloudflare's ranges on the load balancer; the hosts' 443 from the load balancer's group only; SSH from the runner and Instance Connect groups only", () => {
            const runnerSg = `${at("-runner-sg")}-id`;
            const instanceConnectSg = `${at("-instance-connect-sg")}-id`;
            const fleetSg = `${at("-backend-sg")}-id`;
            const lbSg = `${at("-lb-sg")}-id`;
            const rulesOf = (suffix: string, direction: "ingress" | "egress" = "ingress") => {
                const sg = byType(run, SECURITY_GROUP).find((r) => r.name === at(suffix));
                assert.ok(sg, `no security group ${at(suffix)}`);
                return (sg.inputs[direction] as Record<string, unknown>[]).map((rule) => ({
                    protocol: rule.protocol, port: rule.fromPort, to: rule.toPort, groups: rule.securityGroups, v4: rule.cidrBlocks, v6: rule.ipv6CidrBlocks,
                }));
            };
            const ssh = { protocol: "tcp", port: 22, to: 22, groups: [runnerSg, instanceConnectSg], v4: undefined, v6: undefined };
            // One group for every host: 443 from the load balancer's group, no address range at all, no port 80.
            assert.deepEqual(rulesOf("-backend-sg"), [
                ssh,
                { protocol: "tcp", port: 443, to: 443, groups: [lbSg], v4: undefined, v6: undefined },
            ]);
            // Cloudflare's IPv4 ranges, exactly as the (mocked) provider lookup returns them; the ALB has no IPv6.
            assert.deepEqual(rulesOf("-lb-sg"), [{ protocol: "tcp", port: 443, to: 443, groups: undefined, v4: CLOUDFLARE_IPV4, v6: undefined }]);
            assert.deepEqual(rulesOf("-lb-sg", "egress"), [
                { protocol: "tcp", port: 443, to: 443, groups: undefined, v4: [production ? "10.10.0.0/16" : "10.20.0.0/16"], v6: undefined },
            ]);
            assert.deepEqual(rulesOf("-cache-host-sg"), [
                { protocol: "tcp", port: 6379, to: 6379, groups: [fleetSg], v4: undefined, v6: undefined }, ssh,
            ]);
            assert.deepEqual(rulesOf("-search-host-sg"), [
                { protocol: "tcp", port: 7700, to: 7700, groups: [fleetSg], v4: undefined, v6: undefined }, ssh,
            ]);
            assert.deepEqual(rulesOf("-runner-sg"), []);
            assert.deepEqual(rulesOf("-instance-connect-sg"), []);
            // Every group of the stack, named or not above: the only address ranges any ingress
            // rule names are Cloudflare's, on the load balancer's 443.
            const withRanges = byType(run, SECURITY_GROUP).flatMap((sg) => (sg.inputs.ingress as Record<string, unknown>[])
                .filter((rule) => rule.cidrBlocks !== undefined || rule.ipv6CidrBlocks !== undefined)
                .map((rule) => `${sg.name} ${rule.fromPort}-${rule.toPort}`));
            assert.deepEqual(withRanges, [`${at("-lb-sg")} 443-443`]);
        });

        it("the load balancer: internet-facing ALB in the public subnets, invalid headers dropped, one HTTPS listener with the TLS 1.3/1.2 policy and the imported Origin CA certificate, forwarding to the target group", () => {
            const lb = single(run, "aws:lb/loadBalancer:LoadBalancer");
            assert.equal(lb.name, at("-lb"));
            assert.deepEqual(unwrapSecrets(lb.inputs), {
                loadBalancerType: "application", internal: false, ipAddressType: "ipv4",
                subnets: [0, 1].map((i) => `${at(`-network-public-${i}`)}-id`),
                securityGroups: [`${at("-lb-sg")}-id`],
                dropInvalidHeaderFields: true, idleTimeout: 60,
                // Explicit, so nginx's /healthz (404 to any request with X-Forwarded-For) stays hidden.
                xffHeaderProcessingMode: "append",
                enableDeletionProtection: production,
                tags: { Project: "pakashop", Environment: stack, ManagedBy: "pulumi", Component: "load-balancer" },
            });
            const certificate = single(run, "aws:acm/certificate:Certificate");
            assert.ok(isSecretValue(certificate.inputs.privateKey), "the certificate's key is a secret");
            assert.deepEqual({ ...(unwrapSecrets(certificate.inputs) as Record<string, unknown>), tags: undefined }, {
                certificateBody: "-----BEGIN CERTIFICATE-----\nmock origin certificate\n-----END CERTIFICATE-----\n",
                privateKey: "-----BEGIN EC PRIVATE KEY-----\nmock\n-----END EC PRIVATE KEY-----\n",
                tags: undefined,
            });
            const listener = single(run, "aws:lb/listener:Listener");
            const { tags: _tags, ...listenerInputs } = unwrapSecrets(listener.inputs) as Record<string, unknown>;
            assert.deepEqual(listenerInputs, {
                loadBalancerArn: `arn:aws:elasticloadbalancing:ap-south-1:123456789012:loadbalancer/app/${at("-lb")}/0123456789abcdef`,
                port: 443, protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
                certificateArn: `arn:aws:acm:ap-south-1:123456789012:certificate/00000000-0000-4000-8000-${String(at("-lb-cert").length).padStart(12, "0")}`,
                defaultActions: [{ type: "forward", targetGroupArn: mockTargetGroupArn(at("-tg")) }],
            });
        });

        it("the HTTPS listener answers the health check path itself with a fixed 404, first of its rules", () => {
            const rule = single(run, "aws:lb/listenerRule:ListenerRule");
            assert.equal(rule.name, at("-lb-healthz-404"));
            assert.equal(rule.parent, single(run, "pakashop:edge:LoadBalancer").urn);
            const { tags, ...inputs } = unwrapSecrets(rule.inputs) as Record<string, unknown>;
            assert.deepEqual(inputs, {
                listenerArn: `arn:aws:elasticloadbalancing:ap-south-1:123456789012:listener/app/${at("-lb-https")}/0123456789abcdef/fedcba9876543210`,
                priority: 1,
                conditions: [{ pathPattern: { values: ["/healthz"] } }],
                actions: [{ type: "fixed-response", fixedResponse: { contentType: "text/plain", statusCode: "404", messageBody: "Not Found\n" } }],
            });
            assert.equal(TARGET_GROUP.healthCheck.path, "/healthz", "the rule hides the path the target group checks");
            assert.deepEqual(tags, { Project: "pakashop", Environment: stack, ManagedBy: "pulumi", Component: "load-balancer" });
        });

        it("every autonamed load balancer and target group fits AWS's 32 characters with the provider's 8-character suffix", () => {
            const autonamed = run.resources.filter((r) => ELB_NAMED_TYPES.includes(r.type) && (unwrapSecrets(r.inputs) as Record<string, unknown>).name === undefined);
            assert.deepEqual(autonamed.map((r) => r.name).sort(), [at("-lb"), at("-tg")]);
            for (const r of autonamed) {
                assert.equal(elbAutonameProblem(r.name), undefined, r.name);
                assert.ok(r.name.length + 8 <= 32, `${r.name}: ${r.name.length} + 8 > 32`);
            }
        });

        it("the target group: HTTPS to 443 of instances, its health check and deregistration delay exactly TARGET_GROUP's", () => {
            const group = single(run, "aws:lb/targetGroup:TargetGroup");
            assert.equal(group.name, at("-tg"));
            const { tags: _tags, ...inputs } = unwrapSecrets(group.inputs) as Record<string, unknown>;
            assert.deepEqual(inputs, {
                port: TARGET_GROUP.port, protocol: TARGET_GROUP.protocol, targetType: "instance",
                vpcId: `${at("-network-vpc")}-id`,
                deregistrationDelay: TARGET_GROUP.deregistrationDelaySeconds,
                healthCheck: {
                    enabled: true,
                    path: TARGET_GROUP.healthCheck.path, protocol: TARGET_GROUP.healthCheck.protocol, port: TARGET_GROUP.healthCheck.port,
                    matcher: TARGET_GROUP.healthCheck.matcher,
                    interval: TARGET_GROUP.healthCheck.intervalSeconds, timeout: TARGET_GROUP.healthCheck.timeoutSeconds,
                    healthyThreshold: TARGET_GROUP.healthCheck.healthyThreshold, unhealthyThreshold: TARGET_GROUP.healthCheck.unhealthyThreshold,
                },
            });
            assert.deepEqual({ path: TARGET_GROUP.healthCheck.path, interval: TARGET_GROUP.healthCheck.intervalSeconds, delay: TARGET_GROUP.deregistrationDelaySeconds },
                { path: "/healthz", interval: 5, delay: 30 });
        });

        it("rolls host by host: each host's drain waits for the previous host's return, its switch for its drain, its return for its switch; each attachment for its host's return", () => {
            const tg = mockTargetGroupArn(at("-tg"));
            for (const n of ordinals(hosts)) {
                const drain = named(at(`-rollout-${n}-drain`));
                const sw = named(at(`-rollout-${n}-switch`));
                const ret = named(at(`-rollout-${n}-return`));
                const previousReturn = n > 1 ? named(at(`-rollout-${n - 1}-return`)).urn : undefined;
                const otherReturns = run.resources.filter((r) => /-rollout-\d+-return$/.test(r.name) && drain.dependsOn.includes(r.urn)).map((r) => r.name);
                assert.deepEqual(otherReturns, n > 1 ? [at(`-rollout-${n - 1}-return`)] : [], `host ${n}'s drain waits for exactly the host before it`);
                if (previousReturn) assert.ok(drain.dependsOn.includes(previousReturn));
                // The proxy step (nginx and the health check it serves) changes what the host answers:
                // it runs in the drained window, after the drain and before the switch.
                const proxy = named(at(`-rollout-${n}-proxy`));
                assert.ok(proxy.dependsOn.includes(drain.urn), `host ${n}'s proxy step runs once the host is out of traffic`);
                assert.ok(sw.dependsOn.includes(drain.urn), `host ${n}'s switch waits for its drain`);
                assert.ok(sw.dependsOn.includes(proxy.urn), `host ${n}'s switch waits for its proxy step`);
                assert.deepEqual(ret.dependsOn, [sw.urn], `host ${n}'s return waits for its switch`);
                // Its delete drains the host before the switch's delete stops its services.
                const retire = named(at(`-rollout-${n}-retire`));
                assert.deepEqual(retire.dependsOn, [sw.urn], `host ${n}'s retire step follows its switch (so its delete comes first)`);
                const attachment = named(at(`-backend-${n}-tg`));
                assert.equal(attachment.type, ATTACHMENT);
                assert.deepEqual(attachment.dependsOn, [ret.urn, retire.urn], `host ${n}'s attachment records the registration its return made, and goes before its retire step`);
                assert.deepEqual(unwrapSecrets(attachment.inputs), { targetGroupArn: tg, targetId: at(`-backend-${n}-instance-id`), port: 443 });
                for (const step of [drain, ret]) {
                    const env = (unwrapSecrets(step.inputs) as { environment: Record<string, string> }).environment;
                    assert.deepEqual({ arn: env.PAKASHOP_TARGET_GROUP_ARN, instance: env.PAKASHOP_INSTANCE_ID, region: env.PAKASHOP_REGION, port: env.PAKASHOP_TARGET_PORT },
                        { arn: tg, instance: at(`-backend-${n}-instance-id`), region: "ap-south-1", port: "443" }, step.name);
                }
            }
            // The prepare steps of different hosts wait for nothing of another host: they run in parallel.
            for (const r of byType(run, REMOTE).filter((x) => x.name.endsWith("-prepare"))) {
                const own = /-rollout-(\d+)-/.exec(r.name)?.[1];
                const foreign = run.resources.filter((o) => r.dependsOn.includes(o.urn) && /-rollout-\d+-/.test(o.name) && /-rollout-(\d+)-/.exec(o.name)?.[1] !== own);
                assert.deepEqual(foreign.map((o) => o.name), [], r.name);
            }
        });

        it("Cloudflare's API record is a proxied CNAME to the load balancer, moved only once every host is back in it", () => {
            const record = named(at("-edge-api"));
            const inputs = unwrapSecrets(record.inputs) as Record<string, unknown>;
            assert.deepEqual({ type: inputs.type, content: inputs.content, proxied: inputs.proxied, name: inputs.name },
                { type: "CNAME", content: mockLoadBalancerDnsName(at("-lb")), proxied: true, name: production ? "api.pakashop.store" : "api-staging.pakashop.store" });
            assert.deepEqual(record.dependsOn.slice().sort(), ordinals(hosts).map((n) => named(at(`-rollout-${n}-return`)).urn).sort());
        });

        it("every remote step pins the key its host's -host-key step read, connects to the host's private address directly (no proxy), and holds the private key as a secret", async () => {
            const distinct = await runWithDistinctHosts(stack);
            const steps = [...byType(distinct, REMOTE), ...byType(distinct, COPY)];
            assert.equal(steps.length, (2 + 19 + 1 + 1) * hosts + 2);
            for (const r of steps) {
                // The cache's and search's provisioning run on those hosts; a rollout's steps on its backend host.
                const host = /-(cache|search)-provision$/.exec(r.name)?.[1];
                const ordinal = /-rollout-(\d+)-/.exec(r.name)?.[1];
                assert.ok(host || ordinal, `${r.name}: whose step?`);
                const on = host ? `${host}-host` : `backend-${ordinal}`;
                assert.ok(isSecretValue(r.inputs.connection), `${r.name}: connection carries the key, must be secret`);
                const connection = unwrapSecrets(r.inputs.connection) as Record<string, unknown>;
                assert.match(String(connection.privateKey), /^-----BEGIN PRIVATE KEY-----/);
                assert.deepEqual({ ...connection, privateKey: "(checked above)" }, {
                    host: privateIpOf(stack, on), port: 22, user: "admin", privateKey: "(checked above)",
                    hostKey: hostKeyOf(stack, on), dialErrorLimit: 20, perDialTimeout: 15,
                }, r.name);
                assert.equal("proxy" in connection, false, `${r.name}: no jump host`);
                if (r.type === REMOTE) assert.match(String(unwrapSecrets(r.inputs.create)), /^sudo -n bash -c /);
            }
            // Each host-key step reads its own instance's console, in the stack's region, again
            // exactly when the instance is replaced.
            for (const host of hostsOf(stack)) {
                const step = distinct.resources.find((r) => r.type === LOCAL && r.name === at(`-${host}-host-key`));
                assert.ok(step, `no host-key step for ${host}`);
                const instanceId = at(`-${host}-instance-id`);
                const inputs = unwrapSecrets(step.inputs) as Record<string, unknown>;
                assert.deepEqual(inputs.environment, { PAKASHOP_INSTANCE_ID: instanceId, PAKASHOP_REGION: "ap-south-1" });
                assert.deepEqual(inputs.triggers, [instanceId]);
                assert.match(String(inputs.create), /aws ec2 get-console-output/);
                assert.match(String(step.parent), new RegExp(`::${at(`-${host}`)}$`));
            }
            // Each host's ssh-ready check waits for the address its steps connect to.
            for (const n of ordinals(hosts)) {
                const sshReady = unwrapSecrets(distinct.resources.find((r) => r.name === at(`-rollout-${n}-ssh-ready`))?.inputs) as Record<string, Record<string, unknown>>;
                assert.deepEqual(sshReady.environment, { PAKASHOP_HOST: privateIpOf(stack, `backend-${n}`), PAKASHOP_PORT: "22" });
            }
            // The output lists every host with its own address and key.
            assert.deepEqual(distinct.outputs.backendHosts, ordinals(hosts).map((n) => ({
                name: `backend-${n}`, instanceId: at(`-backend-${n}-instance-id`), privateIp: privateIpOf(stack, `backend-${n}`),
                hostKey: hostKeyOf(stack, `backend-${n}`), availabilityZone: ZONES[(n - 1) % 2],
            })));
        });

        it("re-runs steps on content hashes of their scripts and on their host's instance id, never on time", async () => {
            const { createHash } = await import("crypto");
            for (const r of byType(run, REMOTE)) {
                const inputs = unwrapSecrets(r.inputs) as { create: string; triggers: [Record<string, unknown>, string]; stdin?: string };
                const script = /<<'PAKASHOP_SCRIPT_EOF'\n([\s\S]*)\nPAKASHOP_SCRIPT_EOF\n\)"$/.exec(inputs.create)?.[1];
                assert.ok(script, `${r.name}: no script in create`);
                const hash = createHash("sha256").update(script).update("\0").digest("hex");
                assert.equal(inputs.triggers.length, 2, r.name);
                // The switch is the one step updated in place (its delete removes every service):
                // a new script re-runs it through an update, so its triggers hold no script hash.
                if (/-rollout-\d+-switch$/.test(r.name)) assert.deepEqual(inputs.triggers[0], { step: "switch" });
                else assert.equal(inputs.triggers[0].script, hash, r.name);
                // The mocks give an instance the id `<name>-id`.
                const host = /-(cache|search)-provision$/.exec(r.name)?.[1];
                const ordinal = /-rollout-(\d+)-/.exec(r.name)?.[1];
                assert.equal(inputs.triggers[1], host ? at(`-${host}-host-instance-id`) : at(`-backend-${ordinal}-instance-id`), r.name);
            }
        });

        it("exports the waves, the load balancer's name and every backend host, no single-host output, and no secret", () => {
            assert.deepEqual(run.outputs.rolloutWaves, [["config"], ["gateway"], ["backend", "search", "analytics"],
                ["notifications", "tracking", "moderation", "recommendations", "scheduler", "fraud", "coupon", "loyalty",
                    "whatsapp", "reports", "reconciliation", "invoicing", "pricing", "settlement"]]);
            assert.equal(run.outputs.loadBalancerDnsName, mockLoadBalancerDnsName(at("-lb")));
            assert.equal(run.outputs.backendTargetGroupArn, mockTargetGroupArn(at("-tg")));
            assert.deepEqual(run.outputs.backendHosts, ordinals(hosts).map((n) => ({
                name: `backend-${n}`, instanceId: at(`-backend-${n}-instance-id`), privateIp: MOCK_PRIVATE_IP, hostKey: MOCK_HOST_PUBLIC_KEY, availabilityZone: ZONES[(n - 1) % 2],
            })));
            for (const gone of ["backendPublicIp", "backendPrivateIp", "backendHostKey", "backendInstanceId"]) assert.equal(gone in run.outputs, false, gone);
            // The one secret output (for the backup jobs) is marked secret; every other is plain.
            const redacted = redactSecrets(run.outputs) as Record<string, unknown>;
            assert.deepEqual(Object.keys(redacted).filter((k) => redacted[k] === "[secret]"), ["databaseUrl"]);
        });
    });
}

describe("load balancer and target group autonames (elbAutonameProblem)", () => {
    it("accepts a 24-character resource name (32 with the suffix) and refuses a 25-character one", () => {
        assert.equal(elbAutonameProblem("a".repeat(24)), undefined);
        assert.equal(elbAutonameProblem("a".repeat(25)),
            '"aaaaaaaaaaaaaaaaaaaaaaaaa" is 25 characters; with the provider\'s "-" and 7 random characters its name would be 33, '
            + "above the 32 AWS allows: shorten it to 24 characters at most");
    });

    it("refuses the target group's former name, pakashop-production-backend-tg (30 + 8 = 38)", () => {
        assert.match(String(elbAutonameProblem("pakashop-production-backend-tg")), /would be 38, above the 32/);
        assert.match(String(elbAutonameProblem("pakashop-staging-backend-tg")), /would be 35, above the 32/);
    });
});

describe("program, a fleet of three (staging with backendHosts: 3)", () => {
    let run: OfflineRun;
    before(async () => {
        run = await planStack("staging", { [`${NS}:backendHosts`]: 3 });
    });
    const named = (name: string) => {
        const found = run.resources.find((r) => r.name === name);
        assert.ok(found, `no resource ${name}`);
        return found;
    };

    it("three hosts over the two zones (a, b, a), three attachments, one rollout each, chained 1 -> 2 -> 3", () => {
        const backends = byType(run, INSTANCE).filter((r) => /-backend-\d+-instance$/.test(r.name));
        assert.deepEqual(backends.map((r) => [r.name, (r.inputs as Record<string, unknown>).availabilityZone]),
            [1, 2, 3].map((n) => [`pakashop-staging-backend-${n}-instance`, ZONES[(n - 1) % 2]]));
        assert.equal(byType(run, ATTACHMENT).length, 3);
        assert.equal(byType(run, "pakashop:rollout:ServiceRollout").length, 3);
        for (const n of [2, 3]) {
            assert.ok(named(`pakashop-staging-rollout-${n}-drain`).dependsOn.includes(named(`pakashop-staging-rollout-${n - 1}-return`).urn), `host ${n} after host ${n - 1}`);
            assert.ok(!named(`pakashop-staging-rollout-${n - 1}-drain`).dependsOn.includes(named(`pakashop-staging-rollout-${n}-return`).urn));
        }
        // Host 3 waits for host 2 only (which waited for host 1): one host out at a time.
        assert.ok(!named("pakashop-staging-rollout-3-drain").dependsOn.includes(named("pakashop-staging-rollout-1-return").urn));
    });

    it("adding a host renames none: hosts 1's resources keep their names and inputs", async () => {
        const base = await planStack("staging");
        // The traffic steps (drain, return, retire) carry the fleet's size in their environment: a
        // fleet of one switches in service, a larger one never does (components/scripts/targetGroup.ts).
        for (const r of base.resources.filter((x) => /-backend-1(-|$)|-rollout-1-(?!drain|return|retire)/.test(x.name))) {
            const same = run.resources.find((o) => o.urn === r.urn);
            assert.ok(same, `${r.name} vanished`);
            assert.equal(JSON.stringify(unwrapSecrets(same.inputs)), JSON.stringify(unwrapSecrets(r.inputs)), r.name);
        }
    });
});

describe("program, change impact", () => {
    const OTHER = "0123456789abcdef0123456789abcdef01234567";

    it("without a clone of the monorepo, a new revision of one service changes no input: the plan can't tell whether the service's content changed (and says so)", async () => {
        const base = await planStack("staging");
        const changed = await planStack("staging", { [`${NS}:services`]: { search: { revision: OTHER } } });
        const differing = base.resources
            .filter((r) => {
                const other = changed.resources.find((c) => c.urn === r.urn);
                assert.ok(other, `${r.urn} vanished`);
                return JSON.stringify(unwrapSecrets(other.inputs)) !== JSON.stringify(unwrapSecrets(r.inputs));
            })
            .map((r) => r.name);
        // With a clone, the release follows the folder's content (tests/rolloutSteps.spec.ts).
        assert.deepEqual(differing, []);
    });

    it("a longer health timeout changes the switch (and the drain before it) and nothing else", async () => {
        const base = await planStack("staging");
        const changed = await planStack("staging", { [`${NS}:healthTimeoutSeconds`]: 120 });
        const differing = base.resources.filter((r, i) =>
            JSON.stringify(unwrapSecrets(changed.resources[i].inputs)) !== JSON.stringify(unwrapSecrets(r.inputs)));
        // The drain re-runs exactly when the switch does (its trigger is a digest of the switch's
        // script and input), so it changes with it; the return follows every drain (its trigger is
        // the drain's output, a run token on a real host, the same empty output under the mocks).
        assert.deepEqual(differing.map((r) => r.name).sort(), ["pakashop-staging-rollout-1-drain", "pakashop-staging-rollout-1-switch"]);
    });
});
