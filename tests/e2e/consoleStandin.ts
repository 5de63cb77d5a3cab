/**
 * A stand-in `aws` executable for the end-to-end test. It stands in for EC2's console API
 * (`GetConsoleOutput`), which the test can't reach: the program's host-key steps
 * (components/hostKey.ts) run `aws ec2 get-console-output --region R --instance-id I --latest
 * --output text --query Output` on this machine, as they would on the deploy runner, and this
 * stand-in answers with console text in cloud-init's format holding the real ed25519 host key
 * of the test host that plays instance I. Unknown instance ids and any other call fail with exit
 * 255 and an error on stderr, as the CLI does. Every call is logged for the test to check.
 *
 * The stage puts {@link ConsoleStandin.binDir} first on PATH for the test process only.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";

export interface ConsoleStandin {
    /** The folder holding `aws`. */
    readonly binDir: string;
    /** Makes instance `instanceId`'s console show `hostPublicKey` (`ssh-ed25519 AAAA... comment`). */
    setConsole(instanceId: string, hostPublicKey: string): void;
    /** The calls so far, one argument list per call. */
    calls(): string[][];
}

/** The script (a file of its own, so shellcheck and a reader see plain bash). */
const SCRIPT = path.join(__dirname, "fixture", "aws-standin.sh");


/** `SHA256:...` as ssh-keygen -l prints it. */
function fingerprint(publicKey: string): string {
    const blob = Buffer.from(publicKey.trim().split(/\s+/)[1], "base64");
    return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * An instance's console as EC2 returns it after the first boot: kernel and cloud-init noise,
 * then cloud-init's keys_to_console output through `logger -t ec2` (a syslog head on every
 * line): the fingerprints, then the keys between the markers the program parses.
 */
export function consoleText(hostPublicKey: string): string {
    const key = hostPublicKey.trim();
    const comment = key.split(/\s+/)[2] ?? "root@localhost";
    const head = "<14>Nov 27 02:00:00 ec2:";
    return [
        "[    0.000000] Linux version 6.12.48+deb13-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.12.48-1",
        "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-6.12.48+deb13-cloud-amd64 root=PARTUUID=0e1b8bd6-01 ro console=tty0 console=ttyS0,115200",
        "[    3.412871] cloud-init[402]: Cloud-init v. 25.1.4 running 'init-local' at Thu, 27 Nov 2025 02:00:00 +0000. Up 3.38 seconds.",
        "[    5.209114] cloud-init[455]: Generating public/private ed25519 key pair.",
        "[    5.301928] cloud-init[455]: The key fingerprint is:",
        `[    5.301990] cloud-init[455]: ${fingerprint(key)} root@ip-10-20-10-10`,
        `${head} `,
        `${head} #############################################################`,
        `${head} -----BEGIN SSH HOST KEY FINGERPRINTS-----`,
        `${head} 256 ${fingerprint(key)} ${comment} (ED25519)`,
        `${head} -----END SSH HOST KEY FINGERPRINTS-----`,
        `${head} #############################################################`,
        `${head} -----BEGIN SSH HOST KEY KEYS-----`,
        `${head} ${key}`,
        `${head} -----END SSH HOST KEY KEYS-----`,
        "[    7.822630] cloud-init[612]: Cloud-init v. 25.1.4 finished at Thu, 27 Nov 2025 02:00:04 +0000. Datasource DataSourceEc2Local.  Up 7.81 seconds",
        "",
        "Debian GNU/Linux 13 ip-10-20-10-10 ttyS0",
        "",
    ].join("\n");
}

/** Writes the stand-in into `dir` (a fresh folder of the test's). */
export function installConsoleStandin(dir: string): ConsoleStandin {
    const binDir = path.join(dir, "bin");
    fs.mkdirSync(binDir, { recursive: true });
    fs.mkdirSync(path.join(dir, "console"), { recursive: true });
    fs.copyFileSync(SCRIPT, path.join(binDir, "aws"));
    fs.chmodSync(path.join(binDir, "aws"), 0o755);
    fs.writeFileSync(path.join(dir, "calls.log"), "");
    return {
        binDir,
        setConsole: (instanceId, hostPublicKey) => fs.writeFileSync(path.join(dir, "console", `${instanceId}.txt`), consoleText(hostPublicKey)),
        calls: () => fs.readFileSync(path.join(dir, "calls.log"), "utf8").split("\n").filter(Boolean).map((line) => line.trim().split(" ")),
    };
}
