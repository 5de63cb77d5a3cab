/**
 * RDS PostgreSQL 16 in the private subnets. Fixed in code, for every stack: storage encrypted,
 * never publicly accessible, TLS forced by the parameter group, a final snapshot on deletion
 * under a name no earlier instance used, the master password a generated Pulumi secret. Per
 * stack (Pulumi.<stack>.yaml): size, backup retention, Multi-AZ, deletion protection
 * (production's minimums are enforced).
 *
 * Names. The instance keeps the fixed identifier `pakashop-<stack>` (the runbook's restore and
 * rename steps and the pre-deploy snapshot job use it), so a replacement must delete the old
 * instance before creating the new one: with Pulumi's default (create first) the new instance's
 * CreateDBInstance fails, the identifier being taken. Deleting first is also the safe order
 * for a database: with deletion protection on (production) the replacement stops at the delete,
 * before anything points at a new, empty instance. The final snapshot's identifier carries a
 * random suffix that is drawn again whenever an input that replaces the instance changes (its
 * keepers), and on every fresh stack, so neither a replacement nor a second destroy of the
 * stack meets the snapshot an earlier instance left behind (DBSnapshotAlreadyExists).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { PlatformSettings } from "./platformSettings";
import { AWS_RDS } from "./providerValues";
import { resourceTags } from "./tags";

/** Size, backups, Multi-AZ and deletion protection: what a stack may choose. */
type DatabaseSettings = PlatformSettings["database"];

export const POSTGRES_PORT = 5432;
export const DATABASE_NAME = "pakashop";
export const DATABASE_USER = "pakashop";
/** Lower-case letters and digits: 36^8 names, so a snapshot name never repeats in practice. */
export const FINAL_SNAPSHOT_SUFFIX_LENGTH = 8;

/** Arguments of {@link Database}. */
export interface DatabaseArgs extends DatabaseSettings {
    readonly stack: string;
    readonly vpcId: pulumi.Input<string>;
    readonly subnetIds: pulumi.Input<string>[];
    /** The backend host's security group: the database's only client. */
    readonly clientSecurityGroupId: pulumi.Input<string>;
    /** The deploy runner's security group: the database dumps connect from it (TLS verified). */
    readonly backupClientSecurityGroupId: pulumi.Input<string>;
}

export class Database extends pulumi.ComponentResource {
    public readonly instance: aws.rds.Instance;
    /** Host name of the endpoint. */
    public readonly address: pulumi.Output<string>;
    /** `postgresql://...?sslmode=require`, secret. */
    public readonly url: pulumi.Output<string>;

    constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:data:Database", name, {}, opts);
        const tags = resourceTags(args.stack, "database");
        const subnets = new aws.rds.SubnetGroup(`${name}-subnets`, {
            description: `Pakashop ${args.stack}: private subnets`,
            subnetIds: args.subnetIds,
            tags,
        }, { parent: this });
        const parameters = new aws.rds.ParameterGroup(`${name}-params`, {
            family: AWS_RDS.parameterGroupFamily,
            description: "Pakashop: TLS only",
            parameters: [{ name: "rds.force_ssl", value: "1", applyMethod: AWS_RDS.applyMethod.pendingReboot }],
            tags,
        }, { parent: this });
        const securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, {
            description: "Pakashop PostgreSQL: from the backend host and the deploy runner (dumps) only",
            vpcId: args.vpcId,
            ingress: [
                { description: "PostgreSQL from the backend host", protocol: "tcp", fromPort: POSTGRES_PORT, toPort: POSTGRES_PORT, securityGroups: [args.clientSecurityGroupId] },
                { description: "PostgreSQL from the deploy runner (database dumps)", protocol: "tcp", fromPort: POSTGRES_PORT, toPort: POSTGRES_PORT, securityGroups: [args.backupClientSecurityGroupId] },
            ],
            egress: [],
            tags,
        }, { parent: this });
        // Letters and digits only: safe inside a connection URL without escaping.
        const password = new random.RandomPassword(`${name}-password`, { length: 40, special: false }, { parent: this });

        // The inputs the instance sets that make AWS replace it (ForceNew in hashicorp/
        // terraform-provider-aws internal/service/rds/instance.go: identifier, engine, db_name,
        // username, storage_encrypted; the others of that kind are left unset here).
        const identity = {
            identifier: `pakashop-${args.stack}`,
            engine: AWS_RDS.engine,
            dbName: DATABASE_NAME,
            username: DATABASE_USER,
            storageEncrypted: true,
        };
        const snapshotSuffix = new random.RandomString(`${name}-final-snapshot-suffix`, {
            length: FINAL_SNAPSHOT_SUFFIX_LENGTH, special: false, upper: false,
            keepers: Object.fromEntries(Object.entries(identity).map(([key, value]) => [key, String(value)])),
        }, { parent: this });

        this.instance = new aws.rds.Instance(`${name}-instance`, {
            ...identity,
            engineVersion: AWS_RDS.engineVersion,
            instanceClass: args.instanceClass,
            allocatedStorage: args.storageGiB,
            maxAllocatedStorage: args.maxStorageGiB,
            storageType: AWS_RDS.storageType,
            publiclyAccessible: false,
            dbSubnetGroupName: subnets.name,
            vpcSecurityGroupIds: [securityGroup.id],
            parameterGroupName: parameters.name,
            password: password.result,
            port: POSTGRES_PORT,
            backupRetentionPeriod: args.backupRetentionDays,
            multiAz: args.multiAz,
            deletionProtection: args.deletionProtection,
            skipFinalSnapshot: false,
            // Letters and digits after "-final-": no "--", no trailing "-" (DeleteDBInstance's rules).
            finalSnapshotIdentifier: pulumi.interpolate`${identity.identifier}-final-${snapshotSuffix.result}`,
            copyTagsToSnapshot: true,
            autoMinorVersionUpgrade: true,
            allowMajorVersionUpgrade: false,
            iamDatabaseAuthenticationEnabled: true,
            tags,
        }, { parent: this, deleteBeforeReplace: true });

        this.address = this.instance.address;
        this.url = pulumi.secret(pulumi.interpolate`postgresql://${DATABASE_USER}:${password.result}@${this.instance.address}:${POSTGRES_PORT}/${DATABASE_NAME}?sslmode=require`);
        this.registerOutputs({ address: this.address });
    }
}
