/**
 * `npm run drift -- --stack <name> --hosts <file>
 *      [--user admin] [--port 22] [--identity <key file>] [--set key=value ...]`
 * `npm run drift -- --stack <name> --host <address> --host-key '<ssh-ed25519 ...>' [...]`
 *
 * Host drift check: `pulumi refresh` can't see inside a host, so this compares each service on
 * every backend host (unit file hash, enabled, active, release) with what the program deploys
 * for the stack, in one SSH round trip per host, and prints a JSON report.
 * `--hosts` takes the JSON of `pulumi stack output backendHosts --json` and checks every host of
 * the fleet, one report per host, each naming its host (`backend-<n>`); a host that can't be
 * reached is reported with its error and the others are still checked. `--host`/`--host-key`
 * check one host (a host outside the fleet's output, or one host by hand).
 * The key comes from `--identity` or the environment variable PAKASHOP_DEPLOY_KEY (in CI:
 * `pulumi config get deployPrivateKey`). `--set revision=<commit>` overrides a setting of the
 * stack file, e.g. the revision the last deploy set.
 * Exit codes: 0 no drift, 7 drift (as `pulumi preview --expect-no-changes`), 1 error (with
 * `--hosts`: any host that could not be checked, after printing the report), 2 usage.
 */
import "./fastStart"; // first: caches the compilation of everything imported after it
import * as fs from "fs";
import { runAsScript, runTool, UsageError } from "./cli";
import { CONFIG_NAMESPACE } from "../components/settings";
import { checkFleetDrift, DRIFT_EXIT_CODE, expectedFleetState, NamedTarget } from "./drift/check";
import { parseFleetHosts } from "./drift/hosts";
import { loadStackConfig } from "./stackConfig";

const USAGE = "usage: npm run drift -- --stack <name> (--hosts <file> | --host <address> --host-key '<key line>') [--user admin] [--port 22] [--identity <file>] [--set key=value]";

export interface DriftArgs {
    stack: string;
    /** `--hosts`: the fleet's hosts file. */
    hostsFile?: string;
    host?: string;
    hostKey?: string;
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

export function parseDriftArgs(argv: string[]): DriftArgs {
    const args: Partial<DriftArgs> & { overrides: Record<string, unknown> } = { user: "admin", port: 22, overrides: {} };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = argv[++i];
        if (value === undefined) throw new UsageError(`${flag} needs a value`);
        switch (flag) {
            case "--stack": args.stack = value; break;
            case "--hosts": args.hostsFile = value; break;
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
    if (!args.stack) throw new UsageError("--stack is required");
    if (args.hostsFile !== undefined && (args.host !== undefined || args.hostKey !== undefined)) {
        throw new UsageError("--hosts checks the whole fleet; give it alone, or --host with --host-key for one host");
    }
    if (args.hostsFile === undefined) {
        if (!args.host && !args.hostKey) throw new UsageError("--hosts <file> (pulumi stack output backendHosts --json) or --host with --host-key is required");
        if (!args.host) throw new UsageError("--host is required with --host-key");
        if (!args.hostKey) throw new UsageError("--host-key is required with --host");
    }
    const port = args.port ?? 22;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be a port number, not ${port}`);
    return args as DriftArgs;
}

/** The hosts to check: the fleet's file, or the one `--host`. */
function targetsOf(args: DriftArgs, privateKey: string): NamedTarget[] {
    const base = { port: args.port, user: args.user, privateKey };
    if (args.hostsFile !== undefined) {
        const text = fs.readFileSync(args.hostsFile, "utf8");
        return parseFleetHosts(text, args.hostsFile).map((h) => ({ name: h.name, target: { ...base, host: h.privateIp, hostKey: h.hostKey } }));
    }
    return [{ name: args.host as string, target: { ...base, host: args.host as string, hostKey: args.hostKey as string } }];
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, parseDriftArgs, async (args) => {
        const privateKey = args.identity ? fs.readFileSync(args.identity, "utf8") : process.env.PAKASHOP_DEPLOY_KEY;
        if (!privateKey) throw new Error("no deploy key: pass --identity <file> or set PAKASHOP_DEPLOY_KEY");
        const targets = targetsOf(args, privateKey);
        const stackConfig = loadStackConfig(args.stack, args.overrides);
        const report = await checkFleetDrift(stackConfig.stack, expectedFleetState(stackConfig), targets);
        // One host by --host: its report alone, as before. The fleet: every host's, by name.
        const single = args.hostsFile === undefined ? report.hosts[0] : undefined;
        if (single && "error" in single) throw new Error(single.error);
        process.stdout.write(`${JSON.stringify(single ? stripName(single) : report, null, 2)}\n`);
        if (report.failed) return 1;
        return report.drift ? DRIFT_EXIT_CODE : 0;
    });
}

/** The single-host report as `--host` always printed it (no fleet name). */
function stripName<T extends { name: string }>(report: T): Omit<T, "name"> {
    const { name: _name, ...rest } = report;
    return rest;
}

runAsScript(module, main);
