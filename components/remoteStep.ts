/**
 * One remote step: a rendered script run over SSH, re-run exactly when a content hash of its
 * inputs changes. Secrets travel on standard input, never in the script or a command line;
 * a step with secret input keeps its output out of state in plain text.
 */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { contentHash, remoteInvocation } from "./scripts/shell";

export interface RemoteStepArgs {
    readonly connection: types.input.remote.ConnectionArgs;
    /** The SSH user; steps run under `sudo -n` unless root. */
    readonly sshUser: string;
    readonly script: pulumi.Input<string>;
    /** Secret input (a password, a key, an environment file), hashed into the trigger. */
    readonly stdin?: pulumi.Input<string>;
    /** Runs when the step is deleted. */
    readonly deleteScript?: pulumi.Input<string>;
}

export function remoteStep(name: string, args: RemoteStepArgs, opts: pulumi.CustomResourceOptions): remote.Command {
    const script = pulumi.output(args.script);
    const stdin = args.stdin === undefined ? undefined : pulumi.secret(args.stdin);
    const trigger = pulumi.all([script, stdin ?? ""]).apply(([text, input]) => (input ? contentHash(text, input) : contentHash(text)));
    return new remote.Command(name, {
        connection: args.connection,
        create: script.apply((text) => remoteInvocation(text, args.sshUser)),
        delete: args.deleteScript === undefined ? undefined : pulumi.output(args.deleteScript).apply((text) => remoteInvocation(text, args.sshUser)),
        stdin,
        triggers: [trigger],
        addPreviousOutputInEnv: false,
        // With secret input, progress (stdout) stays out of Pulumi's log; errors still show.
        logging: stdin ? "stderr" : "stdoutAndStderr",
    }, stdin ? { ...opts, additionalSecretOutputs: ["stdout", "stderr"] } : opts);
}
