/**
 * What every EC2 host of the platform shares: the official Debian 13 image, user data without
 * secrets (the host makes its own SSH host key; the deploy reads it from the console and pins
 * it from the first connection, components/hostKey.ts), IMDSv2 only, and an encrypted gp3 root
 * volume.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEBIAN_RELEASE } from "../host/bootstrap";
import { renderCloudConfig } from "./cloudInit";

/** Where the host image's Debian release is decided: host/bootstrap.ts (the hosts' packages). */
export { DEBIAN_RELEASE };

/** Debian's own AWS account, which publishes the official Debian cloud images. */
export const DEBIAN_AMI_OWNER = "136693071363";

export type Architecture = "x86_64" | "arm64";

/** The name pattern of Debian's official cloud images, e.g. `debian-13-amd64-20251117-2299`. */
export function debianImageNamePattern(architecture: Architecture): string {
    return `debian-${DEBIAN_RELEASE.version}-${architecture === "arm64" ? "arm64" : "amd64"}-*`;
}

/** The newest official Debian image of {@link DEBIAN_RELEASE} for the architecture. */
export function debianImage(architecture: Architecture, parent: pulumi.Resource): pulumi.Output<aws.ec2.GetAmiResult> {
    return aws.ec2.getAmiOutput({
        owners: [DEBIAN_AMI_OWNER],
        mostRecent: true,
        filters: [
            { name: "name", values: [debianImageNamePattern(architecture)] },
            { name: "architecture", values: [architecture] },
            { name: "virtualization-type", values: ["hvm"] },
        ],
    }, { parent });
}

/** The user data of every host: the deploy key, and first-boot host key generation. */
export function hostUserData(deployPublicKey: string): string {
    return renderCloudConfig({ deployPublicKey });
}

/** Instance settings no host may differ in. */
export function hardenedInstanceArgs(rootVolumeSizeGiB: number, tags: Record<string, string>) {
    return {
        metadataOptions: {
            httpEndpoint: "enabled",
            httpTokens: "required", // IMDSv2 only
            httpPutResponseHopLimit: 1,
        },
        rootBlockDevice: {
            volumeType: "gp3",
            volumeSize: rootVolumeSizeGiB,
            encrypted: true,
            deleteOnTermination: true,
            tags,
        },
        // cloud-init applies user data at first boot only: a change means a new host.
        userDataReplaceOnChange: true,
        monitoring: true,
    };
}

/**
 * The image lookup finds Debian's newest build; a newer one must not replace a running host
 * on an unrelated `pulumi up`. Hosts are re-imaged deliberately.
 */
export const IGNORE_IMAGE_UPDATES = ["ami"];

/**
 * The instance resource's name. The architecture is part of it (none for x86_64, so existing
 * stacks keep their URNs; `-arm64` for Graviton): an image is built for one architecture and
 * EC2 can't change an instance's image in place, and with `ami` in `ignoreChanges` a
 * replacement would even carry the old image over (ignored properties keep their old value).
 * A new name instead makes Pulumi create a new host from the right image, move everything
 * that depends on the instance to it (the rollout steps' triggers hold the instance id), and
 * delete the old one, so an instance type of another architecture never reaches EC2 as an
 * in-place change.
 */
export function instanceResourceName(name: string, architecture: Architecture): string {
    return architecture === "x86_64" ? `${name}-instance` : `${name}-instance-${architecture}`;
}
