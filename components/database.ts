/**
 * RDS PostgreSQL 16 in the private subnets. Fixed in code, for every stack: storage encrypted,
 * never publicly accessible, TLS forced by the parameter group, a final snapshot on deletion,
 * the master password a generated Pulumi secret. Per stack (Pulumi.<stack>.yaml): size,
 * backup retention, Multi-AZ, deletion protection (production's minimums are enforced).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { PlatformSettings } from "./platformSettings";
import { resourceTags } from "./tags";

/** Size, backups, Multi-AZ and deletion protection: what a stack may choose. */
type DatabaseSettings = PlatformSettings["database"];

export const POSTGRES_PORT = 5432;
export const DATABASE_NAME = "pakashop";
export const DATABASE_USER = "pakashop";

/** Arguments of {@link Database}. */
export interface DatabaseArgs extends DatabaseSettings {
    readonly stack: string;
    readonly vpcId: pulumi.Input<string>;
    readonly subnetIds: pulumi.Input<string>[];
    /** The backend host's security group: the database's only client. */
    readonly clientSecurityGroupId: pulumi.Input<string>;
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
            family: "postgres16",
            description: "Pakashop: TLS only",
            parameters: [{ name: "rds.force_ssl", value: "1", applyMethod: "pending-reboot" }],
            tags,
        }, { parent: this });
        const securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, {
            description: "Pakashop PostgreSQL: from the backend host only",
            vpcId: args.vpcId,
            ingress: [{ description: "PostgreSQL from the backend host", protocol: "tcp", fromPort: POSTGRES_PORT, toPort: POSTGRES_PORT, securityGroups: [args.clientSecurityGroupId] }],
            egress: [],
            tags,
        }, { parent: this });
        // Letters and digits only: safe inside a connection URL without escaping.
        const password = new random.RandomPassword(`${name}-password`, { length: 40, special: false }, { parent: this });

        this.instance = new aws.rds.Instance(`${name}-instance`, {
            identifier: `pakashop-${args.stack}`,
            engine: "postgres",
            engineVersion: "16",
            instanceClass: args.instanceClass,
            allocatedStorage: args.storageGiB,
            maxAllocatedStorage: args.maxStorageGiB,
            storageType: "gp3",
            storageEncrypted: true,
            publiclyAccessible: false,
            dbSubnetGroupName: subnets.name,
            vpcSecurityGroupIds: [securityGroup.id],
            parameterGroupName: parameters.name,
            dbName: DATABASE_NAME,
            username: DATABASE_USER,
            password: password.result,
            port: POSTGRES_PORT,
            backupRetentionPeriod: args.backupRetentionDays,
            multiAz: args.multiAz,
            deletionProtection: args.deletionProtection,
            skipFinalSnapshot: false,
            finalSnapshotIdentifier: `pakashop-${args.stack}-final`,
            copyTagsToSnapshot: true,
            autoMinorVersionUpgrade: true,
            allowMajorVersionUpgrade: false,
            iamDatabaseAuthenticationEnabled: true,
            tags,
        }, { parent: this });

        this.address = this.instance.address;
        this.url = pulumi.secret(pulumi.interpolate`postgresql://${DATABASE_USER}:${password.result}@${this.instance.address}:${POSTGRES_PORT}/${DATABASE_NAME}?sslmode=require`);
        this.registerOutputs({ address: this.address });
    }
}
