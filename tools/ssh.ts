/**
 * Runs one command on a host over SSH with the system `ssh`, the way the deploy steps reach
 * hosts: key authentication only, and the host key pinned (never trust-on-first-use).
 * Shared by the drift check and the end-to-end command engine.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Where and how to connect; the same fields as `@pulumi/command`'s connection. */
export interface SshTarget {
    readonly host: string;
    /** @default 22 */
    readonly port?: number;
    readonly user: string;
    /** The private key's text (never written anywhere but a 0600 file in a private temp folder). */
    readonly privateKey: string;
    /** The host's public key line (`ssh-ed25519 AAAA...`); the connection fails on any other. */
    readonly hostKey: string;
}

export interface CommandResult {
    readonly exitCode: number;
    readonly stdout: string;
    readonly stderr: string;
}

/** Runs `command` through the remote login shell, as `@pulumi/command` does; `input` is its stdin. */
export async function runOverSsh(target: SshTarget, command: string, timeoutSeconds = 600, input?: string): Promise<CommandResult> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-ssh-"));
    try {
        const args = [...sshArguments(target, dir, "target"), `${target.user}@${target.host}`, command];
        return await spawnCollect("ssh", args, timeoutSeconds, process.env, input);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * Copies a local file to `remotePath` over SFTP, as `@pulumi/command`'s CopyToRemote does
 * (pulumi-command `provider/pkg/provider/remote/copyController.go`: an SFTP session on the
 * step's SSH connection, the file written to the path, overwriting it).
 */
export async function copyFileOverSsh(target: SshTarget, localFile: string, remotePath: string, timeoutSeconds = 600): Promise<CommandResult> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-sftp-"));
    try {
        // sftp takes the port as -P; everything else is ssh's.
        const args = sshArguments(target, dir, "target").map((arg, i, all) => (arg === "-p" && all[i + 1] !== undefined ? "-P" : arg));
        const quote = (value: string) => `"${value.replace(/(["\\])/g, "\\$1")}"`;
        return await spawnCollect("sftp", ["-b", "-", ...args, `${target.user}@${target.host}`], timeoutSeconds, process.env,
            `put ${quote(localFile)} ${quote(remotePath)}\n`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * Puts every file of a local folder into a remote folder over one SFTP session, as
 * pulumi-command's CopyToRemote does with a folder: `remoteParent/<basename of localDir>/...`,
 * made if missing (provider/pkg/provider/remote/copyController.go, sftpCopy and copyDir).
 */
export async function copyDirectoryOverSsh(target: SshTarget, localDir: string, remoteParent: string, timeoutSeconds = 600): Promise<CommandResult> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-sftp-"));
    try {
        const args = sshArguments(target, dir, "target").map((arg, i, all) => (arg === "-p" && all[i + 1] !== undefined ? "-P" : arg));
        const quote = (value: string) => `"${value.replace(/(["\\])/g, "\\$1")}"`;
        const remoteDir = path.posix.join(remoteParent, path.basename(localDir));
        const lines: string[] = [`-mkdir ${quote(remoteDir)}`];
        const walk = (local: string, remote: string) => {
            for (const entry of fs.readdirSync(local, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
                const [from, to] = [path.join(local, entry.name), path.posix.join(remote, entry.name)];
                if (entry.isDirectory()) {
                    lines.push(`-mkdir ${quote(to)}`);
                    walk(from, to);
                } else {
                    lines.push(`put ${quote(from)} ${quote(to)}`);
                }
            }
        };
        walk(localDir, remoteDir);
        return await spawnCollect("sftp", ["-b", "-", ...args, `${target.user}@${target.host}`], timeoutSeconds, process.env, `${lines.join("\n")}\n`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Options for the connection: its key and its pinned host key (every host is reached directly, from inside the VPC). */
function sshArguments(target: SshTarget, dir: string, label: string): string[] {
    if (!target.hostKey) throw new Error(`no pinned host key for ${target.host}: refusing to connect`);
    const keyFile = path.join(dir, `${label}.key`);
    const knownHosts = path.join(dir, `${label}.known_hosts`);
    fs.writeFileSync(keyFile, target.privateKey.endsWith("\n") ? target.privateKey : `${target.privateKey}\n`, { mode: 0o600 });
    const port = target.port ?? 22;
    fs.writeFileSync(knownHosts, `${port === 22 ? target.host : `[${target.host}]:${port}`} ${target.hostKey.trim()}\n`);
    return [
        "-F", "/dev/null", "-i", keyFile, "-p", String(port),
        "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=15", "-o", "LogLevel=ERROR",
    ];
}

/** Runs a program and collects its output; never rejects for a non-zero exit. */
export function spawnCollect(file: string, args: string[], timeoutSeconds = 600, env: NodeJS.ProcessEnv = process.env, input?: string): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(file, args, { env, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], timeout: timeoutSeconds * 1000 });
        if (input !== undefined) child.stdin?.end(input);
        let stdout = "";
        let stderr = "";
        child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ exitCode: code ?? -1, stdout, stderr }));
    });
}
