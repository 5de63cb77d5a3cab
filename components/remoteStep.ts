/**
 * One remote step: a rendered script run over SSH, replaced (re-run) exactly when its script
 * or its host changes, or (for a step that must never coexist with an older copy of itself,
 * like the host's switch) updated in place when its script changes and replaced only with its
 * host. Secrets travel on standard input, never in the script or a command line; a step with
 * secret input keeps its output out of state in plain text.
 *
 * What a reviewer sees in a preview's diff: the script (`create`) and the triggers are plain
 * text. They hold no secret and nothing derived from one, so a secret can't taint them into
 * `[secret]`. A change of the secret input alone is an update, not a replacement: the
 * provider replaces a command only when `triggers` change and runs `create` again on any
 * other input change (pulumi-command `provider/pkg/provider/remote/command.go`: triggers are
 * `replaceOnChanges`; `commandController.go` Update runs `update`, else `create`).
 */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { contentHash, remoteInvocation } from "../host/shell";

/** What the first trigger shows a reviewer besides the script's hash: plain, never secret. */
export type StepSummary = Readonly<Record<string, string | number>>;

export interface RemoteStepArgs {
    readonly connection: types.input.remote.ConnectionArgs;
    /** The SSH user; steps run under `sudo -n` unless root. */
    readonly sshUser: string;
    /** The script; must not depend on a secret (it is shown in plans and stored in plain text). */
    readonly script: pulumi.Input<string>;
    /**
     * The host's instance id. It changes exactly when the host is replaced (re-imaged, moved to
     * another subnet, another architecture), and then the step must run again on the new host,
     * although its address and pinned host key stay the same.
     */
    readonly hostId: pulumi.Input<string>;
    /**
     * Readable facts about the step (service, unit, port, revision) for the first trigger.
     * @default {}
     */
    readonly summary?: StepSummary;
    /** Secret input (a password, a key, an environment file); a change re-runs the step. */
    readonly stdin?: pulumi.Input<string>;
    /** Runs when the step is deleted (or replaced, after its replacement ran). */
    readonly deleteScript?: pulumi.Input<string>;
    /**
     * What a new script does to the step. `replace`: the new step is created, then the old one
     * deleted (its delete script runs). `update`: the step keeps its identity and runs its create
     * again (the provider runs `create` on an update without `update`), so its delete runs only
     * when the step goes (destroy) or its host is replaced. A step whose delete undoes the
     * host's whole state must be `update`: two replacements in a row could otherwise leave an
     * old copy, pending deletion, that looks exactly like the live one.
     * @default "replace"
     */
    readonly onScriptChange?: "replace" | "update";
}

/**
 * The triggers of a step: what it runs (readable facts and the script's hash) and where. Two
 * separate elements, so the first stays known in a preview of a new stack, where the instance
 * id is not yet (an array literal keeps its elements' unknowns apart; one `apply` over both
 * would make the whole array unknown).
 */
export function stepTriggers(script: pulumi.Input<string>, hostId: pulumi.Input<string>, summary: StepSummary = {}, onScriptChange: "replace" | "update" = "replace"): pulumi.Input<unknown>[] {
    if (onScriptChange === "update") return [summary, hostId];
    return [pulumi.output(script).apply((text) => ({ ...summary, script: contentHash(text) })), hostId];
}

export function remoteStep(name: string, args: RemoteStepArgs, opts: pulumi.CustomResourceOptions): remote.Command {
    const script = pulumi.output(args.script);
    const stdin = args.stdin === undefined ? undefined : pulumi.secret(args.stdin);
    return new remote.Command(name, {
        connection: args.connection,
        create: script.apply((text) => remoteInvocation(text, args.sshUser)),
        delete: args.deleteScript === undefined ? undefined : pulumi.output(args.deleteScript).apply((text) => remoteInvocation(text, args.sshUser)),
        stdin,
        triggers: stepTriggers(script, args.hostId, args.summary, args.onScriptChange),
        addPreviousOutputInEnv: false,
        // With secret input, progress (stdout) stays out of Pulumi's log; errors still show.
        logging: stdin ? "stderr" : "stdoutAndStderr",
    }, stdin ? { ...opts, additionalSecretOutputs: ["stdout", "stderr"] } : opts);
}
