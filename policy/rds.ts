/** RDS PostgreSQL: encrypted, private, backed up, protected, highly available, TLS only. */
import { PolicyResource } from "@pulumi/policy";
import { AWS_RDS } from "../components/providerValues";
import { nameOf, ofType, Props, resourcePolicy, stackPolicy, UNKNOWN } from "./policyKit";

const DB = "aws:rds/instance:Instance";
const PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup";

/**
 * RDS for PostgreSQL major versions in standard support, from the RDS release calendar
 * (https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html):
 * 13 left standard support on 2026-02-28; 14 to 17 remain. Revisit with the calendar.
 */
export const RDS_POSTGRES_MAJOR_VERSIONS: readonly string[] = ["14", "15", "16", "17"];
const RDS_POSTGRES_SOURCE = "RDS for PostgreSQL release calendar, https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html";

/**
 * A parameter group's name: its `name` when the props hold it (the engine's state), else the
 * name Pulumi autonames it with, `<resource name>-<7 hex>` (the offline plan's inputs), as a pattern.
 */
function nameOfGroup(group: PolicyResource): string | RegExp {
    if ("name" in group.props && group.props.name) return String(group.props.name);
    return new RegExp(`^${nameOf(group.urn).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-[0-9a-f]{7}$`);
}

function namesGroup(group: string | RegExp | typeof UNKNOWN, wanted: unknown): boolean {
    if (group === UNKNOWN || typeof wanted !== "string") return false;
    return typeof group === "string" ? group === wanted : group.test(wanted);
}

export const rdsPolicies = [
    resourcePolicy({
        name: "aws-rds-instance-enable-storage-encryption",
        description: "Checks that RDS instances encrypt their storage.",
        severity: "high",
        remediationSteps: "Set storageEncrypted: true (a new instance is needed for an existing unencrypted one).",
        types: [DB],
        check: (p) => (p.storageEncrypted === true ? undefined : `storageEncrypted is ${JSON.stringify(p.storageEncrypted)}; set it to true.`),
    }),
    resourcePolicy({
        name: "aws-rds-instance-disallow-public-access",
        description: "Checks that RDS instances are not publicly accessible.",
        severity: "critical",
        remediationSteps: "Set publiclyAccessible: false and keep the instance in the private subnets.",
        types: [DB],
        // The provider reads the input as a bool and accepts the string spellings too ("true",
        // "1"), so anything but an explicit false/absent counts as public.
        check: (p) => (p.publiclyAccessible === undefined || p.publiclyAccessible === false || p.publiclyAccessible === "false"
            ? undefined : `publiclyAccessible is ${JSON.stringify(p.publiclyAccessible)}; set it to false.`),
    }),
    resourcePolicy<{ minimumDays?: number }>({
        name: "aws-rds-instance-configure-backup-retention",
        description: "Checks that RDS keeps automated backups at least the configured number of days (7 by default, 30 in production).",
        severity: "high",
        remediationSteps: "Raise pakashop-infra:databaseBackupRetentionDays in the stack file.",
        configSchema: { properties: { minimumDays: { type: "integer", default: 7, minimum: 1, maximum: 35 } } },
        types: [DB],
        check: (p, c) => {
            const minimum = c.minimumDays ?? 7;
            return (p.backupRetentionPeriod ?? 0) >= minimum ? undefined
                : `backupRetentionPeriod is ${p.backupRetentionPeriod ?? 0} days; keep backups at least ${minimum} days.`;
        },
    }),
    resourcePolicy({
        name: "aws-rds-instance-enable-deletion-protection",
        description: "Checks that RDS instances are protected from deletion.",
        severity: "high",
        remediationSteps: "Set pakashop-infra:databaseDeletionProtection: true in the stack file.",
        types: [DB],
        check: (p) => (p.deletionProtection === true ? undefined : "deletionProtection is false; set it to true."),
    }),
    resourcePolicy({
        name: "aws-rds-instance-enable-final-snapshot",
        description: "Checks that deleting an RDS instance takes a final snapshot.",
        severity: "high",
        remediationSteps: "Set skipFinalSnapshot: false and a finalSnapshotIdentifier.",
        types: [DB],
        // Judged on what a preview knows: the identifier carries a random suffix drawn when the
        // instance is created (components/database.ts), so it is unknown in a preview of a new
        // stack; `in` asks whether it is set without reading it.
        check: (p) => {
            if (p.skipFinalSnapshot !== false) return `skipFinalSnapshot is ${JSON.stringify(p.skipFinalSnapshot)}; take a final snapshot.`;
            return "finalSnapshotIdentifier" in p ? undefined
                : "finalSnapshotIdentifier is not set; RDS needs one to take the final snapshot.";
        },
    }),
    resourcePolicy({
        name: "aws-rds-instance-enable-multi-az",
        description: "Checks that RDS instances keep a standby in a second availability zone.",
        severity: "medium",
        remediationSteps: "Set pakashop-infra:databaseMultiAz: true in the stack file.",
        types: [DB],
        check: (p) => (p.multiAz === true ? undefined : "multiAz is false; set it to true for a standby in a second zone."),
    }),
    resourcePolicy<{ supportedMajorVersions?: string[] }>({
        name: "aws-rds-instance-configure-engine-version",
        description: "Checks that RDS PostgreSQL instances pin a major version RDS still supports in standard support (14 to 17 by default).",
        severity: "medium",
        remediationSteps: "Set engineVersion (components/providerValues.ts AWS_RDS.engineVersion) to a supported major version and upgrade the parameter group family with it. "
            + `Supported versions: ${RDS_POSTGRES_SOURCE}.`,
        configSchema: { properties: { supportedMajorVersions: { type: "array", items: { type: "string" }, default: [...RDS_POSTGRES_MAJOR_VERSIONS] } } },
        types: [DB],
        check: (p, c) => {
            if (p.engine !== AWS_RDS.engine) return `engine is ${JSON.stringify(p.engine)}; this stack runs "${AWS_RDS.engine}".`;
            const supported = c.supportedMajorVersions ?? RDS_POSTGRES_MAJOR_VERSIONS;
            const major = typeof p.engineVersion === "string" || typeof p.engineVersion === "number" ? String(p.engineVersion).split(".")[0] : undefined;
            return major !== undefined && supported.includes(major) ? undefined
                : `engineVersion is ${JSON.stringify(p.engineVersion)}; pin a supported PostgreSQL major version (${supported.join(", ")}; ${RDS_POSTGRES_SOURCE}).`;
        },
    }),
    stackPolicy({
        name: "aws-rds-parametergroup-enforce-tls",
        description: "Checks that every PostgreSQL RDS instance uses, by parameterGroupName, a parameter group of the stack that forces TLS (rds.force_ssl = 1) and matches its major version; and that every PostgreSQL parameter group forces TLS.",
        severity: "high",
        remediationSteps: "Add the parameter rds.force_ssl = 1 to the parameter group, and set the instance's parameterGroupName to that group's name (components/database.ts).",
        check: (resources, _config, _args, reads) => {
            const groups = ofType(resources, PARAMETER_GROUP).filter((g) => String(g.props.family ?? "").startsWith("postgres"));
            // Every rds.force_ssl entry must be "1" (a second "0" may be the one applied), and one must exist.
            const forceSsl = (g: PolicyResource) => ((g.props.parameters ?? []) as Props[]).filter((x) => String(x?.name ?? "").trim().toLowerCase() === "rds.force_ssl").map((x) => x.value);
            const forcesTls = (g: PolicyResource) => forceSsl(g).length > 0 && forceSsl(g).every((v) => String(v).trim() === "1");
            const violations: { urn: string; message: string }[] = groups.filter((g) => !forcesTls(g)).map((g) => ({ urn: g.urn,
                message: `parameter group ${nameOf(g.urn)} has rds.force_ssl ${forceSsl(g).length > 1 ? forceSsl(g).map((v) => JSON.stringify(v)).join(" and ") : JSON.stringify(forceSsl(g)[0])}; set it to "1"${forceSsl(g).length > 1 ? ", once" : ""}.` }));
            for (const db of ofType(resources, DB).filter((r) => r.props.engine === AWS_RDS.engine)) {
                const wanted = reads.known(() => db.props.parameterGroupName);
                if (wanted === UNKNOWN) continue;
                const used = groups.filter((g) => (db.propertyDependencies?.parameterGroupName ?? []).some((d) => d.urn === g.urn)
                    || namesGroup(reads.known(() => nameOfGroup(g)), wanted));
                const name = nameOf(db.urn);
                if (wanted === undefined || wanted === "") {
                    violations.push({ urn: db.urn, message: `instance ${name} has no parameterGroupName, so it uses RDS's default group, which this stack can't hold to TLS; set parameterGroupName to a group with rds.force_ssl = 1.` });
                } else if (used.length === 0) {
                    violations.push({ urn: db.urn, message: `instance ${name} uses parameter group ${JSON.stringify(wanted)}, which is not a PostgreSQL group of this stack; set parameterGroupName to the stack's group with rds.force_ssl = 1.` });
                } else {
                    // A group in use that does not force TLS is reported above, as the group's own violation.
                    const major = String(db.props.engineVersion ?? "").split(".")[0];
                    for (const g of used.filter((x) => x.props.family !== `${AWS_RDS.engine}${major}`)) {
                        violations.push({ urn: db.urn, message: `instance ${name} runs ${AWS_RDS.engine} ${major} with parameter group ${nameOf(g.urn)} of family ${g.props.family}; use a group of family ${AWS_RDS.engine}${major}.` });
                    }
                }
            }
            return violations;
        },
    }),
];
