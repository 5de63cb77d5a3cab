import { strict as assert } from "assert";
import { MANAGED_RULESETS, VERCEL_CNAME_TARGET } from "../components/edge";
import { OfflineRun, PlannedResource, isSecretValue, redactSecrets, unwrapSecrets } from "../tools/offlineRun";
import { MOCK_ACCOUNT_ID, mockLoadBalancerDnsName } from "../tools/mocks";
import { byType, planStack, single } from "./helpers";

function named(run: OfflineRun, suffix: string, type?: string): PlannedResource {
    const found = run.resources.filter((r) => r.name.endsWith(suffix) && r.custom && (!type || r.type === type));
    assert.equal(found.length, 1, `one resource named *${suffix}`);
    return found[0];
}
const inputs = (r: PlannedResource) => unwrapSecrets(r.inputs) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What differs between the stacks, by design (Pulumi.<stack>.yaml). */
const EXPECTED = {
    staging: { vpc: "10.20.0.0/16", nat: 1, dbClass: "db.t4g.micro", backups: 7, multiAz: false, deletionProtection: false, frontend: "staging.pakashop.store", api: "api-staging.pakashop.store", owner: false },
    production: { vpc: "10.10.0.0/16", nat: 2, dbClass: "db.m6g.large", backups: 30, multiAz: true, deletionProtection: true, frontend: "pakashop.store", api: "api.pakashop.store", owner: true },
} as const;

for (const stack of ["staging", "production"] as const) {
    const want = EXPECTED[stack];
    describe(`platform tiers, ${stack} stack (mocks)`, () => {
        let run: OfflineRun;
        before(async () => {
            run = await planStack(stack);
        });

        it("network: a VPC over two zones, public and private subnets, NAT for the private ones", () => {
            assert.equal(inputs(single(run, "aws:ec2/vpc:Vpc")).cidrBlock, want.vpc);
            const subnets = byType(run, "aws:ec2/subnet:Subnet").map(inputs);
            const base = want.vpc.split(".").slice(0, 2).join(".");
            assert.deepEqual(subnets.map((s) => [s.tags.Tier, s.cidrBlock, s.availabilityZone]), [
                ["public", `${base}.0.0/20`, "ap-south-1a"], ["public", `${base}.16.0/20`, "ap-south-1b"],
                ["private", `${base}.128.0/20`, "ap-south-1a"], ["private", `${base}.144.0/20`, "ap-south-1b"],
            ]);
            assert.ok(subnets.every((s) => s.mapPublicIpOnLaunch === false));
            assert.equal(byType(run, "aws:ec2/natGateway:NatGateway").length, want.nat);
            const privateRoutes = byType(run, "aws:ec2/routeTable:RouteTable").filter((r) => r.name.includes("private")).map(inputs);
            assert.ok(privateRoutes.every((rt) => rt.routes.length === 1 && rt.routes[0].cidrBlock === "0.0.0.0/0" && rt.routes[0].natGatewayId && !rt.routes[0].gatewayId));
        });

        it("no data tier is reachable from the internet: the tier's port from the backend fleet's group only (PostgreSQL also from the runner, for dumps), SSH from the runner and Instance Connect groups only", () => {
            const backendSg = `${named(run, "-backend-sg").name}-id`;
            const runnerSg = `${named(run, "-runner-sg").name}-id`;
            const instanceConnectSg = `${named(run, "-instance-connect-sg").name}-id`;
            const rulesOf = (suffix: string) => (inputs(named(run, suffix)).ingress as Record<string, unknown>[]).map((rule) => ({
                protocol: rule.protocol, port: rule.fromPort, to: rule.toPort, groups: rule.securityGroups, v4: rule.cidrBlocks, v6: rule.ipv6CidrBlocks,
            }));
            const from = (port: number, groups: string[]) => ({ protocol: "tcp", port, to: port, groups, v4: undefined, v6: undefined });
            assert.deepEqual(rulesOf("-database-sg"), [from(5432, [backendSg]), from(5432, [runnerSg])]);
            assert.deepEqual(rulesOf("-cache-host-sg"), [from(6379, [backendSg]), from(22, [runnerSg, instanceConnectSg])]);
            assert.deepEqual(rulesOf("-search-host-sg"), [from(7700, [backendSg]), from(22, [runnerSg, instanceConnectSg])]);
            for (const suffix of ["-cache-host-instance", "-search-host-instance"]) {
                const host = inputs(named(run, suffix));
                assert.equal(host.associatePublicIpAddress, false);
                assert.match(String(host.subnetId), /private/);
            }
        });

        it("RDS PostgreSQL 16: encrypted, private, TLS forced, final snapshot, secret password, stack-sized", () => {
            const db = named(run, "-database-instance");
            const d = inputs(db);
            assert.equal(d.engine, "postgres");
            assert.equal(d.engineVersion, "16");
            assert.equal(d.storageEncrypted, true);
            assert.equal(d.publiclyAccessible, false);
            assert.equal(d.skipFinalSnapshot, false);
            // A random suffix per instance (tests/databaseNames.spec.ts checks it and AWS's limits).
            assert.match(String(d.finalSnapshotIdentifier), new RegExp(`^pakashop-${stack}-final-`));
            assert.ok(isSecretValue(db.inputs.password), "the master password is a secret");
            assert.equal(d.instanceClass, want.dbClass);
            assert.equal(d.backupRetentionPeriod, want.backups);
            assert.equal(d.multiAz, want.multiAz);
            assert.equal(d.deletionProtection, want.deletionProtection);
            assert.deepEqual(inputs(single(run, "aws:rds/parameterGroup:ParameterGroup")).parameters, [{ name: "rds.force_ssl", value: "1", applyMethod: "pending-reboot" }]);
            assert.equal(inputs(single(run, "aws:rds/parameterGroup:ParameterGroup")).family, "postgres16");
        });

        it("Meilisearch keeps its data on an encrypted volume of its own", () => {
            const devices = inputs(named(run, "-search-host-instance")).ebsBlockDevices;
            assert.deepEqual(devices.map((d: Record<string, unknown>) => [d.deviceName, d.volumeType, d.encrypted]), [["/dev/sdf", "gp3", true]]);
        });

        it("backups: private, versioned, encrypted, TLS only, retention by lifecycle, write-only role", () => {
            assert.deepEqual(inputs(single(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")), {
                bucket: inputs(single(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")).bucket,
                blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
            });
            assert.equal(inputs(single(run, "aws:s3/bucketVersioning:BucketVersioning")).versioningConfiguration.status, "Enabled");
            assert.equal(inputs(single(run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")).rules[0].applyServerSideEncryptionByDefault.sseAlgorithm, "aws:kms");
            const rules = inputs(single(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")).rules;
            assert.deepEqual(rules.map((r: Record<string, any>) => [r.filter.prefix, r.expiration.days, r.status]), [["daily/", 30, "Enabled"], ["production/", 90, "Enabled"]]); // eslint-disable-line @typescript-eslint/no-explicit-any
            const bucket = inputs(single(run, "aws:s3/bucket:Bucket"));
            const bucketArn = `arn:aws:s3:::${bucket.bucketPrefix}mock`;
            const readOnlyArn = `arn:aws:iam::${MOCK_ACCOUNT_ID}:role/pakashop-${stack}-ci-read-only`;
            const policy = JSON.parse(inputs(single(run, "aws:s3/bucketPolicy:BucketPolicy")).policy);
            // TLS only; and the dumps are not readable by the read-only role, whose ReadOnlyAccess
            // would otherwise grant s3:Get* (an explicit Deny wins).
            assert.deepEqual(policy.Statement, [
                { Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [bucketArn, `${bucketArn}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } },
                { Sid: "DenyDumpsToReadOnly", Effect: "Deny", Principal: { AWS: readOnlyArn }, Action: "s3:GetObject*", Resource: `${bucketArn}/*` },
            ]);
            assert.equal(run.outputs.readOnlyRoleArn, readOnlyArn);
            // Every trust policy: GitHub's tokens for sts.amazonaws.com, subjects compared exactly
            // (StringEquals, no StringLike), each naming this repository and one environment.
            const trustOf = (suffix: string) => {
                const trust = JSON.parse(inputs(named(run, suffix, "aws:iam/role:Role")).assumeRolePolicy);
                assert.equal(trust.Statement.length, 1, suffix);
                assert.equal(trust.Statement[0].Action, "sts:AssumeRoleWithWebIdentity", suffix);
                assert.deepEqual(Object.keys(trust.Statement[0].Condition), ["StringEquals"], `${suffix}: only exact matches`);
                assert.equal(trust.Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com", suffix);
                assert.deepEqual(Object.keys(trust.Statement[0].Condition.StringEquals).sort(),
                    ["token.actions.githubusercontent.com:aud", "token.actions.githubusercontent.com:sub"], suffix);
                return trust.Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"];
            };
            const environment = (name: string) => `repo:pakashop/pakashop-infra:environment:${name}`;
            // The nightly dump runs in `<stack>-backup` (no reviewers): it can write dumps and nothing else.
            assert.deepEqual(trustOf("-backups-writer"), [environment(`${stack}-backup`)]);
            // The workflows' own roles: deploy only from the stack's environment; reading from the
            // drift environment and the approved-preview environment only.
            assert.deepEqual(trustOf("-ci-deploy"), [environment(stack)]);
            assert.deepEqual(trustOf("-ci-read-only"), [environment(`${stack}-read`), environment(`${stack}-preview`)]);
            const access = JSON.parse(inputs(named(run, "-backups-writer", "aws:iam/rolePolicy:RolePolicy")).policy);
            assert.equal(inputs(named(run, "-ci-read-only", "aws:iam/rolePolicyAttachment:RolePolicyAttachment")).policyArn, "arn:aws:iam::aws:policy/ReadOnlyAccess");
            // Each stack has an AWS account of its own, with its own GitHub OIDC provider.
            assert.equal(byType(run, "aws:iam/openIdConnectProvider:OpenIdConnectProvider").length, 1);
            assert.deepEqual(access.Statement.map((s: Record<string, unknown>) => s.Action), [["s3:PutObject", "s3:AbortMultipartUpload"]]);
            assert.ok((access.Statement[0].Resource as string[]).every((r) => /\/(daily|production)\/\*$/.test(r)));
        });

        it("Cloudflare: proxied records for the API origin (the load balancer) and the frontend, an Origin CA certificate for both", () => {
            const records = byType(run, "cloudflare:index/dnsRecord:DnsRecord").map(inputs);
            // The API record is registered last: it points at the load balancer once the hosts are back in it.
            assert.deepEqual(records.map((r) => [r.name, r.type, r.content, r.proxied]), [
                [want.frontend, "CNAME", VERCEL_CNAME_TARGET, true],
                [want.api, "CNAME", mockLoadBalancerDnsName(`pakashop-${stack}-lb`), true],
            ]);
            const cert = inputs(single(run, "cloudflare:index/originCaCertificate:OriginCaCertificate"));
            assert.deepEqual(cert.hostnames, [want.api, want.frontend]);
        });

        it(want.owner ? "owns the zone: SSL strict, TLS 1.2, always HTTPS, OWASP + Cloudflare managed WAF, API routes of both stacks"
            : "leaves the zone-wide settings, WAF and origin rules to production", () => {
            const settings = byType(run, "cloudflare:index/zoneSetting:ZoneSetting").map(inputs).map((z) => [z.settingId, z.value]);
            const rulesets = byType(run, "cloudflare:index/ruleset:Ruleset").map(inputs);
            if (!want.owner) {
                assert.deepEqual([settings, rulesets], [[], []]);
                return;
            }
            assert.deepEqual(settings, [["ssl", "strict"], ["min_tls_version", "1.2"], ["always_use_https", "on"]]);
            const waf = rulesets.find((r) => r.phase === "http_request_firewall_managed");
            assert.deepEqual(waf?.rules.map((r: Record<string, any>) => [r.action, r.actionParameters.id]), // eslint-disable-line @typescript-eslint/no-explicit-any
                [["execute", MANAGED_RULESETS.owaspCore], ["execute", MANAGED_RULESETS.cloudflareManaged]]);
            const routes = rulesets.find((r) => r.phase === "http_request_origin");
            assert.deepEqual(routes?.rules.map((r: Record<string, any>) => [r.expression, r.actionParameters.origin.host]), [ // eslint-disable-line @typescript-eslint/no-explicit-any
                ['(http.host eq "pakashop.store" and starts_with(http.request.uri.path, "/api/"))', "api.pakashop.store"],
                ['(http.host eq "staging.pakashop.store" and starts_with(http.request.uri.path, "/api/"))', "api-staging.pakashop.store"],
            ]);
        });

        it("Vercel: production owns the project on branch production with protected previews; staging binds its domain to main", () => {
            const domain = inputs(single(run, "vercel:index/projectDomain:ProjectDomain"));
            assert.equal(domain.domain, want.frontend);
            if (want.owner) {
                const project = inputs(single(run, "vercel:index/project:Project"));
                assert.equal(project.gitRepository.productionBranch, "production");
                assert.equal(project.rootDirectory, "frontend");
                assert.equal(project.vercelAuthentication.deploymentType, "standard_protection_new");
                assert.match(project.ignoreCommand, /feature\/\.\+\|hotfix\/\.\+/);
                assert.equal(domain.gitBranch, undefined);
            } else {
                assert.equal(byType(run, "vercel:index/project:Project").length, 0);
                assert.equal(domain.gitBranch, "main");
            }
            const variables = byType(run, "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable").map(inputs);
            assert.deepEqual(variables[0].value, `https://${want.frontend}/api/v1`);
        });

        it("services get the tiers' endpoints and credentials in a secret environment, after all three are ready", () => {
            const step = named(run, "-rollout-1-switch");
            assert.ok(isSecretValue(step.inputs.stdin), "the environment file is a secret");
            const env = String(unwrapSecrets(step.inputs.stdin));
            assert.match(env, /^DATABASE_URL=postgresql:\/\/pakashop:\S+@pakashop-\w+\.mock\.ap-south-1\.rds\.amazonaws\.com:5432\/pakashop\?sslmode=require$/m);
            assert.match(env, /^REDIS_URL=redis:\/\/:\S+@172\.31\.16\.10:6379$/m);
            assert.match(env, /^MEILI_HOST=http:\/\/172\.31\.16\.10:7700$/m);
            assert.match(env, /^MEILI_MASTER_KEY=\S{16,}$/m);
            assert.match(env, new RegExp(`^PAKASHOP_ENVIRONMENT=${stack}$`, "m"));
            const deps = step.dependsOn.map((urn) => urn.slice(urn.lastIndexOf("::") + 2)).filter((name) => !name.endsWith("-prepare")).sort();
            // ... and after the host left the load balancer (its drain step) and nginx's site and
            // health check changed in that window (the proxy step).
            assert.deepEqual(deps, [`pakashop-${stack}-cache-provision`, `pakashop-${stack}-database-instance`, `pakashop-${stack}-rollout-1-bootstrap`,
                `pakashop-${stack}-rollout-1-drain`, `pakashop-${stack}-rollout-1-proxy`, `pakashop-${stack}-search-provision`]);
        });

        it("outputs what an engineer needs, with no secret in plain text", () => {
            for (const key of ["loadBalancerDnsName", "backendHosts", "databaseEndpoint", "redisAddress", "meilisearchUrl", "backupBucket", "frontendUrl", "apiUrl", "vpcId",
                "deployRoleArn", "readOnlyRoleArn", "backupWriterRoleArn"]) {
                assert.ok(run.outputs[key], `output ${key}`);
            }
            // What the runbook's interactive sessions and the in-VPC jobs name (docs/runbook.md): every backend host's instance.
            const backendInstances = (run.outputs.backendHosts as { instanceId: string }[]).map((h) => h.instanceId);
            assert.deepEqual([...backendInstances, run.outputs.redisInstanceId, run.outputs.searchInstanceId, run.outputs.instanceConnectEndpointId],
                [...backendInstances.map((_, i) => `pakashop-${stack}-backend-${i + 1}-instance-id`), `pakashop-${stack}-cache-host-instance-id`, `pakashop-${stack}-search-host-instance-id`, `pakashop-${stack}-instance-connect-endpoint-id`]);
            assert.equal(backendInstances.length, stack === "production" ? 2 : 1);
            assert.equal(run.outputs.runnerProjectName, `pakashop-${stack}-runner`);
            assert.equal(run.outputs.frontendUrl, `https://${want.frontend}`);
            assert.ok(!JSON.stringify(redactSecrets(run.outputs)).includes("mockpassword"));
            assert.ok(isSecretValue(run.outputs.databaseUrl));
        });
    });
}
