/**
 * A host's SSH host key as the deploy learns it: read from the instance's console output
 * (components/scripts/consoleHostKey.ts says why the program no longer generates host keys).
 * One local step per instance; a replaced instance (new id) is read again.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { local } from "@pulumi/command";
import { renderConsoleHostKeyScript } from "./scripts/consoleHostKey";

/** The stack's region (`aws:region`, set in every stack file). */
function stackRegion(): string {
    const region = aws.config.region;
    if (!region) throw new Error("aws:region is not set: set it in Pulumi.<stack>.yaml (pulumi config set aws:region ap-south-1)");
    return region;
}

/** The step's name suffix, so tests and mocks can find it. */
export const HOST_KEY_STEP_SUFFIX = "-host-key";

/**
 * The pinned host key line (`ssh-ed25519 AAAA...`) of `instance`.
 * Runs where `pulumi up` runs, with the caller's AWS credentials (`ec2:GetConsoleOutput`).
 */
export function consoleHostKey(name: string, instance: aws.ec2.Instance, parent: pulumi.Resource): pulumi.Output<string> {
    const step = new local.Command(`${name}${HOST_KEY_STEP_SUFFIX}`, {
        create: renderConsoleHostKeyScript(),
        interpreter: ["/bin/bash", "-c"],
        environment: { PAKASHOP_INSTANCE_ID: instance.id, PAKASHOP_REGION: stackRegion() },
        // A host key belongs to one instance: a new instance is a new key.
        triggers: [instance.id],
        addPreviousOutputInEnv: false,
    }, { parent });
    return step.stdout.apply((out) => out.trim());
}
