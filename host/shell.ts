/**
 * Helpers for the shell scripts the remote commands run. Scripts are rendered as whole bash
 * programs (so `shellcheck` can check exactly what runs) and handed to the host inside a
 * quoted heredoc, so nothing in them is expanded by the SSH login shell.
 */
import { createHash } from "crypto";

const SCRIPT_DELIMITER = "PAKASHOP_SCRIPT_EOF";

/** Single-quotes a value for bash; safe for any string. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A heredoc that writes `content` to stdin of `command` without any expansion. */
export function heredoc(command: string, delimiter: string, content: string): string {
    if (content.split("\n").includes(delimiter)) {
        throw new Error(`heredoc: content contains its delimiter line ${delimiter}`);
    }
    const body = content.endsWith("\n") ? content : `${content}\n`;
    return `${command} <<'${delimiter}'\n${body}${delimiter}`;
}

/** The common head of every script: strict mode and a `log`/`fail` pair that name the step. */
export function scriptHeader(step: string): string {
    return [
        "#!/usr/bin/env bash",
        `# pakashop-infra: ${step}. Rendered by pakashop-infra (host/); do not edit on the host.`,
        "set -euo pipefail",
        "umask 022",
        `log() { printf '[%s] %s\\n' ${shellQuote(step)} "$*"; }`,
        `fail() { printf '[%s] ERROR: %s\\n' ${shellQuote(step)} "$*" >&2; exit 1; }`,
        "",
    ].join("\n");
}

/**
 * The command line a remote command runs: the script in a quoted heredoc, fed to `bash -c`
 * (not `bash -s`, so commands in the script can't swallow the rest of it from stdin), under
 * `sudo -n` unless the SSH user is root.
 */
export function remoteInvocation(script: string, sshUser: string): string {
    const runAs = sshUser === "root" ? "" : "sudo -n ";
    if (script.split("\n").includes(SCRIPT_DELIMITER)) {
        throw new Error(`remoteInvocation: script contains the delimiter line ${SCRIPT_DELIMITER}`);
    }
    return `${runAs}bash -c "$(cat <<'${SCRIPT_DELIMITER}'\n${script}\n${SCRIPT_DELIMITER}\n)"`;
}

/** Content hash used as a remote command's trigger: changes exactly when the text changes. */
export function contentHash(...parts: string[]): string {
    const hash = createHash("sha256");
    for (const part of parts) hash.update(part).update("\0");
    return hash.digest("hex");
}
