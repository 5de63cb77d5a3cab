/**
 * `npm run drift -- --stack <name> --host <address> --host-key '<ssh-ed25519 ...>'
 *      [--user admin] [--port 22] [--identity <key file>] [--set key=value ...]`
 *
 * Host drift check: `pulumi refresh` can't see inside a host, so this compares each service on
 * the backend host (unit file hash, enabled, active, release) with what the program
 * deploys for the stack, in one SSH round trip, and prints a JSON report.
 * The key comes from `--identity` or the environment variable PAKASHOP_DEPLOY_KEY (in CI:
 * `pulumi config get deployPrivateKey`). `--set revision=<commit>` overrides a setting of the
 * stack file, e.g. the revision the last deploy set.
 * Exit codes: 0 no drift, 7 drift (as `pulumi preview --expect-no-changes`), 1 error, 2 usage.
 */
import "./fastStart"; // first: caches the compilation of everything imported after it
import * as fs from "fs";
import { runAsScript, runTool, UsageError } from "./cli";
import { CONFIG_NAMESPACE } from "../components/settings";
import { checkHostDrift, DRIFT_EXIT_CODE } from "./drift/check";
import { loadStackConfig } from "./stackConfig";

const USAGE = "usage: npm run drift -- --stack <name> --host <address> --host-key '<key line>' [--user admin] [--port 22] [--identity <file>] [--set key=value]";

interface Args {
    stack: string;
    host: string;
    hostKey: string;
    user: string;
    port: number;
    identity?: string;
    overrides: Record<string, unknown>;
}

function parseValue(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

function parseArgs(argv: string[]): Args {
    const args: Partial<Args> & { overrides: Record<string, unknown> } = { user: "admin", port: 22, overrides: {} };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = argv[++i];
        if (value === undefined) throw new UsageError(`${flag} needs a value`);
        switch (flag) {
            case "--stack": args.stack = value; break;
            case "--host": args.host = value; break;
            case "--host-key": args.hostKey = value; break;
            case "--user": args.user = value; break;
            case "--port": args.port = Number(value); break;
            case "--identity": args.identity = value; break;
            case "--set": {
                const eq = value.indexOf("=");
                if (eq < 1) throw new UsageError(`--set takes key=value, not ${value}`);
                args.overrides[`${CONFIG_NAMESPACE}:${value.slice(0, eq)}`] = parseValue(value.slice(eq + 1));
                break;
            }
            default: throw new UsageError(`unknown argument ${flag}`);
        }
    }
    for (const required of ["stack", "host", "hostKey"] as const) {
        if (!args[required]) throw new UsageError(`--${required === "hostKey" ? "host-key" : required} is required`);
    }
    return args as Args;
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, parseArgs, async (args) => {
        const privateKey = args.identity ? fs.readFileSync(args.identity, "utf8") : process.env.PAKASHOP_DEPLOY_KEY;
        if (!privateKey) throw new Error("no deploy key: pass --identity <file> or set PAKASHOP_DEPLOY_KEY");
        const report = await checkHostDrift(loadStackConfig(args.stack, args.overrides),
            { host: args.host, port: args.port, user: args.user, privateKey, hostKey: args.hostKey });
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return report.drift ? DRIFT_EXIT_CODE : 0;
    });
}

runAsScript(module, main);
