import { strict as assert } from "assert";
import { CATALOG } from "../components/catalog";
import { OfflineRun, PlannedResource, redactSecrets, unwrapSecrets, isSecretValue } from "../tools/offlineRun";
import { CLOUDFLARE_IPV4, CLOUDFLARE_IPV6 } from "../tools/mocks";
import { deployGraph, serviceOfStep } from "../tools/planModel";
import { SEED_SECTION_3_2 } from "./catalog.spec";
import { byType, planStack, single } from "./helpers";

const NS = "pakashop-infra";
const REMOTE = "command:remote:Command";
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
                "tls:index/privateKey:PrivateKey": 4,
                "aws:ec2/securityGroup:SecurityGroup": 4,
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
                "aws:iam/role:Role": 3,
                "aws:iam/rolePolicy:RolePolicy": 1,
                "pakashop:ci:GithubAccess": 1,
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 2,
                ...(production ? { "aws:iam/openIdConnectProvider:OpenIdConnectProvider": 1 } : {}),
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
                "command:local:Command": 1,
                [REMOTE]: 2 + 19 + 2,
                // One copy of each service's packed sources (components/sources.ts).
                "command:remote:CopyToRemote": 19,
            });
        });

        it("has one deploy step per service, named by service id", () => {
            const steps = run.resources.map((r) => serviceOfStep(r, serviceIds)).filter(Boolean);
            assert.deepEqual([...steps].sort(), [...serviceIds].sort());
            assert.ok(byType(run, REMOTE).some((r) => r.name === `pakashop-${stack}-rollout-search-deploy`));
        });

        it("the deploy steps' dependsOn edges are exactly the tier edges of section 3.2", () => {
            const graph = deployGraph(run.resources, serviceIds);
            const edges = [...graph].flatMap(([service, deps]) => deps.map((d) => `${d} -> ${service}`)).sort();
            assert.deepEqual(edges, seedTierEdges());
        });

        it("every deploy step waits for the bootstrap; the bootstrap waits for SSH", () => {
            const bootstrap = run.resources.find((r) => r.name.endsWith("-rollout-bootstrap")) as PlannedResource;
            const sshReady = single(run, "command:local:Command");
            assert.deepEqual(bootstrap.dependsOn, [sshReady.urn]);
            for (const r of run.resources.filter((x) => serviceOfStep(x, serviceIds))) {
                assert.ok(r.dependsOn.includes(bootstrap.urn), `${r.name} must wait for the bootstrap`);
            }
        });

        it("deploys the stack's branch", () => {
            const branch = stack === "production" ? "production" : "main";
            for (const r of byType(run, REMOTE).filter((x) => serviceOfStep(x, serviceIds))) {
                const triggers = inputsOf(run, r.name).triggers as Record<string, unknown>[];
                assert.equal(triggers[0].branch, branch, r.name);
            }
            assert.equal(run.outputs.branch, branch);
        });

        it("every EC2 instance requires IMDSv2, has an encrypted gp3 root volume and secret user data", () => {
          for (const instance of byType(run, "aws:ec2/instance:Instance")) {
            const inputs = instance.inputs as Record<string, unknown>;
            const backend = instance.name.endsWith("-backend-instance");
            assert.deepEqual(inputs.metadataOptions, { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
            const root = inputs.rootBlockDevice as Record<string, unknown>;
            assert.equal(root.volumeType, "gp3");
            assert.equal(root.encrypted, true);
            assert.equal(root.volumeSize, backend ? (stack === "production" ? 80 : 40) : 20);
            assert.ok(isSecretValue(inputs.userData), "user data holds the host private key: must be secret");
            const cloudConfig = String(unwrapSecrets(inputs.userData));
            assert.match(cloudConfig, /^#cloud-config\n/);
            const parsed = JSON.parse(cloudConfig.replace(/^#cloud-config\n/, ""));
            assert.deepEqual(parsed.ssh_genkeytypes, []);
            assert.equal(parsed.ssh_deletekeys, true);
            assert.match(parsed.ssh_keys.ed25519_public, /^ssh-ed25519 /);
          }
        });

        it("the security group admits SSH from the deploy CIDRs and HTTPS from Cloudflare only", () => {
            const sg = byType(run, "aws:ec2/securityGroup:SecurityGroup").find((r) => r.name.endsWith("-backend-sg")) as PlannedResource;
            const ingress = (sg.inputs.ingress as Record<string, unknown>[]).map((rule) => ({
                port: rule.fromPort, to: rule.toPort, v4: rule.cidrBlocks, v6: rule.ipv6CidrBlocks,
            }));
            const deploy = stack === "production" ? ["203.0.113.0/24", "198.51.100.0/24"] : ["203.0.113.0/24"];
            assert.deepEqual(ingress, [
                { port: 22, to: 22, v4: deploy, v6: [] },
                { port: 443, to: 443, v4: CLOUDFLARE_IPV4, v6: CLOUDFLARE_IPV6 },
            ]);
        });

        it("every remote step pins the generated host key and holds the private key as a secret", () => {
            for (const r of byType(run, REMOTE)) {
                assert.ok(isSecretValue(r.inputs.connection), `${r.name}: connection carries the key, must be secret`);
                const connection = unwrapSecrets(r.inputs.connection) as Record<string, unknown>;
                assert.match(String(connection.hostKey), /^ssh-ed25519 AAAA/);
                assert.match(String(connection.privateKey), /^-----BEGIN PRIVATE KEY-----/);
                assert.equal(connection.user, "admin");
                assert.match(String(unwrapSecrets(r.inputs.create)), /^sudo -n bash -c /);
                const proxied = /-(cache|search)-provision$/.test(r.name);
                assert.equal(connection.dialErrorLimit, proxied ? 60 : 20);
                if (proxied) {
                    // Private hosts: reached through the backend host, whose key is pinned too.
                    const proxy = connection.proxy as Record<string, unknown>;
                    assert.equal(proxy.host, "203.0.113.10");
                    assert.match(String(proxy.hostKey), /^ssh-ed25519 AAAA/);
                    assert.equal(connection.host, "172.31.16.10");
                } else {
                    assert.equal(connection.proxy, undefined);
                }
            }
        });

        it("re-runs steps on content hashes of their scripts and on their host's instance id, never on time", async () => {
            const { createHash } = await import("crypto");
            for (const r of byType(run, REMOTE)) {
                const inputs = unwrapSecrets(r.inputs) as { create: string; triggers: [Record<string, unknown>, string]; stdin?: string };
                const script = /<<'PAKASHOP_SCRIPT_EOF'\n([\s\S]*)\nPAKASHOP_SCRIPT_EOF\n\)"$/.exec(inputs.create)?.[1];
                assert.ok(script, `${r.name}: no script in create`);
                const hash = createHash("sha256").update(script).update("\0").digest("hex");
                assert.equal(inputs.triggers.length, 2, r.name);
                assert.equal(inputs.triggers[0].script, hash, r.name);
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

    it("a new revision of one service changes the inputs of that service's step only", async () => {
        const base = await planStack("staging");
        const changed = await planStack("staging", { [`${NS}:services`]: { search: { revision: OTHER } } });
        const differing = base.resources
            .filter((r) => {
                const other = changed.resources.find((c) => c.urn === r.urn);
                assert.ok(other, `${r.urn} vanished`);
                return JSON.stringify(unwrapSecrets(other.inputs)) !== JSON.stringify(unwrapSecrets(r.inputs));
            })
            .map((r) => r.name);
        assert.deepEqual(differing, ["pakashop-staging-rollout-search-source", "pakashop-staging-rollout-search-deploy"]);
    });

    it("a longer health timeout changes every deploy step and nothing else", async () => {
        const base = await planStack("staging");
        const changed = await planStack("staging", { [`${NS}:healthTimeoutSeconds`]: 120 });
        const differing = base.resources.filter((r, i) =>
            JSON.stringify(unwrapSecrets(changed.resources[i].inputs)) !== JSON.stringify(unwrapSecrets(r.inputs)));
        assert.equal(differing.length, 19);
        assert.ok(differing.every((r) => serviceOfStep(r, serviceIds)));
    });
});
