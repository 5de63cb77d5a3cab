/** RDS PostgreSQL: encrypted, private, backed up, protected, highly available, TLS only. */
import { Props, resourcePolicy } from "./policyKit";

const DB = "aws:rds/instance:Instance";

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
        check: (p) => (p.publiclyAccessible === true ? "publiclyAccessible is true; set it to false." : undefined),
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
    resourcePolicy({
        name: "aws-rds-parametergroup-enforce-tls",
        description: "Checks that PostgreSQL parameter groups force TLS (rds.force_ssl = 1).",
        severity: "high",
        remediationSteps: "Add the parameter rds.force_ssl = 1 to the parameter group.",
        types: ["aws:rds/parameterGroup:ParameterGroup"],
        check: (p) => {
            if (!String(p.family ?? "").startsWith("postgres")) return undefined;
            const value = (p.parameters ?? []).find((x: Props) => x.name === "rds.force_ssl")?.value;
            return value === "1" ? undefined : `rds.force_ssl is ${JSON.stringify(value)}; set it to "1".`;
        },
    }),
];
