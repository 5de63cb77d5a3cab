import { strict as assert } from "assert";
import { CATALOG } from "../components/catalog";
import { OfflineRun, PlannedResource, redactSecrets, runOffline, unwrapSecrets, isSecretValue } from "../tools/offlineRun";
import { CLOUDFLARE_IPV4, CLOUDFLARE_IPV6 } from "../tools/mocks";
import { switchWaves } from "../tools/planModel";
import { loadStackConfig } from "../tools/stackConfig";
import { SEED_SECTION_3_2 } from "./catalog.spec";
import { byType, planStack } from "./helpers";

const NS = "pakashop-infra";
const REMOTE = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";
const LOCAL = "command:local:Command";
const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";
/** The three EC2 hosts, by the name of their component (`pakashop-<stack>-<host>`). */
const HOSTS = ["backend", "cache-host", "search-host"] as const;
const serviceIds = Object.keys(CATALOG.services);

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
const privateIpOf = (host: string) => `10.99.0.${11 + HOSTS.indexOf(host as typeof HOSTS[number])}`;

/**
 * The program with every host distinguishable: each instance gets a private address of its
 * own, and each `<host>-host-key` step prints a key of its own, so a connection that pins the
 * wrong host's key (or any key not read from that host's console) shows.
 */
function runWithDistinctHosts(stack: string): Promise<OfflineRun> {
    return runOffline(loadStackConfig(stack), {
        hook: async (args) => {
            const host = HOSTS.find((h) => args.name === `pakashop-${stack}-${h}-instance` || args.name === `pakashop-${stack}-${h}-host-key`);
            if (!host) return undefined;
            if (args.type === "aws:ec2/instance:Instance") {
                const devices = (args.inputs.ebsBlockDevices ?? []) as Record<string, unknown>[];
                return { id: `${args.name}-id`, state: { ...args.inputs, privateIp: privateIpOf(host), publicIp: "", ebsBlockDevices: devices.map((d, i) => ({ ...d, volumeId: `vol-0distinct${i}` })) } };
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
        let run: OfflineRun;
        before(async () => {
            run = await planStack(stack);
        });

        it("registers exactly the expected resources", () => {
            const production = stack === "production";
            assert.deepEqual(countByType(run), {
                "pakashop:platform:Platform": 1,
                "pakashop:network:Network": 1,
                "aws:ec2/vpc:Vpc": 1,
                "aws:ec2/internetGateway:InternetGateway": 1,
                "aws:ec2/subnet:Subnet": 4,
                "aws:ec2/routeTable:RouteTable": 3,
                "aws:ec2/routeTableAssociation:RouteTableAssociation": 4,
                "aws:ec2/natGateway:NatGateway": production ? 2 : 1,
                "aws:ec2/eip:Eip": (production ? 2 : 1) + 1,
                "pakashop:hosts:BackendHost": 1,
                "pakashop:hosts:DataHost": 2,
                // The Cloudflare Origin CA certificate's key only: no host key is generated any more.
                "tls:index/privateKey:PrivateKey": 1,
                // backend, database, cache, search, deploy runner, Instance Connect Endpoint.
                "aws:ec2/securityGroup:SecurityGroup": 6,
                "aws:ec2/instance:Instance": 3,
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
                "pakashop:rollout:ServiceRollout": 1,
                // ssh-ready, and one host-key step per EC2 host (components/hostKey.ts).
                [LOCAL]: 1 + 3,
                // bootstrap, proxy, a prepare step per service, the host's switch, cache and search provisioning.
                [REMOTE]: 2 + 19 + 1 + 2,
                // One copy of each service's packed sources (components/sources.ts).
                "command:remote:CopyToRemote": 1,
            });
        });

        it("has one prepare step per service, named by service id, and one switch for the host", () => {
            const prepares = byType(run, REMOTE).filter((r) => r.name.endsWith("-prepare")).map((r) => r.name);
            assert.deepEqual(prepares.sort(), serviceIds.map((id) => `pakashop-${stack}-rollout-${id}-prepare`).sort());
            assert.deepEqual(byType(run, REMOTE).filter((r) => r.name.endsWith("-switch")).map((r) => r.name), [`pakashop-${stack}-rollout-switch`]);
        });

        it("the switch restarts the tiers in the order of section 3.2 (its waves give exactly the seed's tier edges)", () => {
            const waves = switchWaves(run.resources);
            const edges = waves.slice(1).flatMap((wave, i) => wave.flatMap((service) => waves[i].map((before) => `${before} -> ${service}`))).sort();
            assert.deepEqual(edges, seedTierEdges());
        });

        it("every prepare step waits for the bootstrap; the bootstrap waits for SSH", () => {
            const bootstrap = run.resources.find((r) => r.name.endsWith("-rollout-bootstrap")) as PlannedResource;
            assert.deepEqual(byType(run, LOCAL).map((r) => r.name).sort(),
                [...HOSTS.map((h) => `pakashop-${stack}-${h}-host-key`), `pakashop-${stack}-rollout-ssh-ready`].sort());
            const sshReady = run.resources.find((r) => r.type === LOCAL && r.name === `pakashop-${stack}-rollout-ssh-ready`) as PlannedResource;
            assert.deepEqual(bootstrap.dependsOn, [sshReady.urn]);
            for (const r of run.resources.filter((x) => x.type === REMOTE && /-(prepare|switch)$/.test(x.name))) {
                assert.ok(r.dependsOn.includes(bootstrap.urn), `${r.name} must wait for the bootstrap`);
            }
        });

        it("deploys the stack's branch", () => {
            const branch = stack === "production" ? "production" : "main";
            for (const r of byType(run, REMOTE).filter((x) => x.name.endsWith("-prepare"))) {
                const triggers = inputsOf(run, r.name).triggers as Record<string, unknown>[];
                assert.equal(triggers[0].branch, branch, r.name);
            }
            assert.equal(run.outputs.branch, branch);
        });

        it("every EC2 instance requires IMDSv2, has an encrypted gp3 root volume, and user data with no secret and no private key", () => {
          const deployPublicKey = loadStackConfig(stack).config[`${NS}:deployPublicKey`];
          assert.match(deployPublicKey, /^ssh-ed25519 /);
          const instances = byType(run, "aws:ec2/instance:Instance");
          assert.equal(instances.length, 3);
          for (const instance of instances) {
            const inputs = instance.inputs as Record<string, unknown>;
            const backend = instance.name.endsWith("-backend-instance");
            assert.deepEqual(inputs.metadataOptions, { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
            const root = inputs.rootBlockDevice as Record<string, unknown>;
            assert.equal(root.volumeType, "gp3");
            assert.equal(root.encrypted, true);
            assert.equal(root.volumeSize, backend ? (stack === "production" ? 80 : 40) : 20);
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

        it("no security group admits anything from outside the VPC but HTTPS from Cloudflare on the backend; SSH only from the runner and Instance Connect groups", () => {
            const runnerSg = `pakashop-${stack}-runner-sg-id`;
            const instanceConnectSg = `pakashop-${stack}-instance-connect-sg-id`;
            const rulesOf = (suffix: string) => {
                const sg = byType(run, SECURITY_GROUP).find((r) => r.name === `pakashop-${stack}${suffix}`);
                assert.ok(sg, `no security group pakashop-${stack}${suffix}`);
                return (sg.inputs.ingress as Record<string, unknown>[]).map((rule) => ({
                    protocol: rule.protocol, port: rule.fromPort, to: rule.toPort, groups: rule.securityGroups, v4: rule.cidrBlocks, v6: rule.ipv6CidrBlocks,
                }));
            };
            const ssh = { protocol: "tcp", port: 22, to: 22, groups: [runnerSg, instanceConnectSg], v4: undefined, v6: undefined };
            assert.deepEqual(rulesOf("-backend-sg"), [
                ssh,
                { protocol: "tcp", port: 443, to: 443, groups: undefined, v4: CLOUDFLARE_IPV4, v6: CLOUDFLARE_IPV6 },
            ]);
            assert.deepEqual(rulesOf("-cache-host-sg"), [
                { protocol: "tcp", port: 6379, to: 6379, groups: [`pakashop-${stack}-backend-sg-id`], v4: undefined, v6: undefined }, ssh,
            ]);
            assert.deepEqual(rulesOf("-search-host-sg"), [
                { protocol: "tcp", port: 7700, to: 7700, groups: [`pakashop-${stack}-backend-sg-id`], v4: undefined, v6: undefined }, ssh,
            ]);
            assert.deepEqual(rulesOf("-runner-sg"), []);
            assert.deepEqual(rulesOf("-instance-connect-sg"), []);
            // Every group of the stack, named or not above: the only address ranges any ingress
            // rule names are Cloudflare's, on the backend's 443.
            const withRanges = byType(run, SECURITY_GROUP).flatMap((sg) => (sg.inputs.ingress as Record<string, unknown>[])
                .filter((rule) => rule.cidrBlocks !== undefined || rule.ipv6CidrBlocks !== undefined)
                .map((rule) => `${sg.name} ${rule.fromPort}-${rule.toPort}`));
            assert.deepEqual(withRanges, [`pakashop-${stack}-backend-sg 443-443`]);
        });

        it("every remote step pins the key its host's -host-key step read, connects to the host's private address directly (no proxy), and holds the private key as a secret", async () => {
            const distinct = await runWithDistinctHosts(stack);
            const steps = [...byType(distinct, REMOTE), ...byType(distinct, COPY)];
            assert.equal(steps.length, 2 + 19 + 1 + 2 + 1);
            for (const r of steps) {
                // The cache's and search's provisioning run on those hosts; everything else on the backend.
                const host = /-(cache|search)-provision$/.exec(r.name)?.[1];
                const on = host ? `${host}-host` : "backend";
                assert.ok(isSecretValue(r.inputs.connection), `${r.name}: connection carries the key, must be secret`);
                const connection = unwrapSecrets(r.inputs.connection) as Record<string, unknown>;
                assert.match(String(connection.privateKey), /^-----BEGIN PRIVATE KEY-----/);
                assert.deepEqual({ ...connection, privateKey: "(checked above)" }, {
                    host: privateIpOf(on), port: 22, user: "admin", privateKey: "(checked above)",
                    hostKey: hostKeyOf(stack, on), dialErrorLimit: 20, perDialTimeout: 15,
                }, r.name);
                assert.equal("proxy" in connection, false, `${r.name}: no jump host`);
                if (r.type === REMOTE) assert.match(String(unwrapSecrets(r.inputs.create)), /^sudo -n bash -c /);
            }
            // Each host-key step reads its own instance's console, in the stack's region, again
            // exactly when the instance is replaced.
            for (const host of HOSTS) {
                const step = distinct.resources.find((r) => r.type === LOCAL && r.name === `pakashop-${stack}-${host}-host-key`);
                assert.ok(step, `no host-key step for ${host}`);
                const instanceId = `pakashop-${stack}-${host}-instance-id`;
                const inputs = unwrapSecrets(step.inputs) as Record<string, unknown>;
                assert.deepEqual(inputs.environment, { PAKASHOP_INSTANCE_ID: instanceId, PAKASHOP_REGION: "ap-south-1" });
                assert.deepEqual(inputs.triggers, [instanceId]);
                assert.match(String(inputs.create), /aws ec2 get-console-output/);
                assert.match(String(step.parent), new RegExp(`::pakashop-${stack}-${host}$`));
            }
            // The backend's ssh-ready check waits for the address the steps connect to.
            const sshReady = unwrapSecrets(distinct.resources.find((r) => r.name === `pakashop-${stack}-rollout-ssh-ready`)?.inputs) as Record<string, Record<string, unknown>>;
            assert.deepEqual(sshReady.environment, { PAKASHOP_HOST: privateIpOf("backend"), PAKASHOP_PORT: "22" });
            assert.equal(distinct.outputs.backendHostKey, hostKeyOf(stack, "backend"));
            assert.equal(distinct.outputs.backendPrivateIp, privateIpOf("backend"));
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
                if (r.name.endsWith("-rollout-switch")) assert.deepEqual(inputs.triggers[0], { step: "switch" });
                else assert.equal(inputs.triggers[0].script, hash, r.name);
                // The mocks give an instance the id `<name>-id`.
                const host = /-(cache|search)-provision$/.exec(r.name)?.[1];
                assert.equal(inputs.triggers[1], host ? `pakashop-${stack}-${host}-host-instance-id` : `pakashop-${stack}-backend-instance-id`, r.name);
            }
        });

        it("exports the waves, addresses and host key, and no secret", () => {
            assert.deepEqual(run.outputs.rolloutWaves, [["config"], ["gateway"], ["backend", "search", "analytics"],
                ["notifications", "tracking", "moderation", "recommendations", "scheduler", "fraud", "coupon", "loyalty",
                    "whatsapp", "reports", "reconciliation", "invoicing", "pricing", "settlement"]]);
            // The one secret output (for the backup jobs) is marked secret; every other is plain.
            const redacted = redactSecrets(run.outputs) as Record<string, unknown>;
            assert.deepEqual(Object.keys(redacted).filter((k) => redacted[k] === "[secret]"), ["databaseUrl"]);
        });
    });
}

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

    it("a longer health timeout changes the switch and nothing else", async () => {
        const base = await planStack("staging");
        const changed = await planStack("staging", { [`${NS}:healthTimeoutSeconds`]: 120 });
        const differing = base.resources.filter((r, i) =>
            JSON.stringify(unwrapSecrets(changed.resources[i].inputs)) !== JSON.stringify(unwrapSecrets(r.inputs)));
        assert.deepEqual(differing.map((r) => r.name), ["pakashop-staging-rollout-switch"]);
    });
});
