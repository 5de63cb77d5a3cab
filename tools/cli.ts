/**
 * The shared shape of the command-line tools: parse, run, map failures to exit codes
 * (2 bad command line, 1 error), and print errors as one line that names the problem.
 */
import { SettingError, settingErrorBlock } from "../components/errors";

/** A bad command line: the message is printed with the tool's usage, exit code 2. */
export class UsageError extends Error {}

/** Flags beyond `--flag value`: value-less switches, and flags that may repeat. */
export interface FlagOptions {
    /** Spelling to name of flags that take no value; a given switch reads as `"true"`. */
    readonly switches?: Readonly<Record<string, string>>;
    /** Spelling to the list that collects every value of a flag that may be given more than once. */
    readonly lists?: Readonly<Record<string, string[]>>;
}

/**
 * Reads `--flag value` and `--flag=value` pairs. `names` maps every accepted spelling (`-s`,
 * `--stack`) to the flag's name; anything else, or a flag without a value, is a usage error.
 * A flag given twice keeps its last value, unless `options.lists` collects it.
 */
export function parseFlags(argv: readonly string[], names: Readonly<Record<string, string>>, options: FlagOptions = {}): Record<string, string> {
    const values: Record<string, string> = {};
    for (let i = 0; i < argv.length; i++) {
        const [flag, inline] = argv[i].split("=", 2);
        const switchName = options.switches && Object.hasOwn(options.switches, flag) ? options.switches[flag] : undefined;
        if (switchName !== undefined) {
            if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
            values[switchName] = "true";
            continue;
        }
        const list = options.lists && Object.hasOwn(options.lists, flag) ? options.lists[flag] : undefined;
        const name = Object.hasOwn(names, flag) ? names[flag] : undefined;
        if (name === undefined && list === undefined) throw new UsageError(`unknown argument ${argv[i]}`);
        const value = inline ?? argv[++i];
        if (value === undefined) throw new UsageError(`${flag} needs a value`);
        if (list !== undefined) list.push(value);
        else values[name!] = value;
    }
    return values;
}

/** A flag whose value must be one of `choices`; `fallback` when it was not given. */
export function choiceFlag<T extends string>(flag: string, value: string | undefined, choices: readonly T[], fallback: T): T {
    if (value === undefined) return fallback;
    if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${choices.join(", ")}, not ${value}`);
    return value as T;
}

/**
 * Errors a tool has already reported. When the program throws, Pulumi's runtime also rejects
 * promises derived from the stack's outputs with the same error and nobody awaits them (under
 * the engine the language host reports them); left alone, Node would crash after the one-line
 * report with the same error and its stack trace.
 */
const reported = new WeakSet<object>();

/**
 * Runs a tool: `parse` turns argv into arguments (throwing {@link UsageError}), `body` does
 * the work and returns the exit code. A {@link SettingError} prints as a short block (setting,
 * value, why, fix); any other error prints `error: <message>`; both give 1 (with PAKASHOP_DEBUG
 * set, the stack trace too).
 */
export async function runTool<A>(argv: string[], usage: string, parse: (argv: string[]) => A, body: (args: A) => Promise<number>): Promise<number> {
    let args: A;
    try {
        args = parse(argv);
    } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        process.stderr.write(`${error.message}\n${usage}\n`);
        return 2;
    }
    try {
        return await body(args);
    } catch (error) {
        // The message names the problem; a stack trace helps only when debugging the tool itself.
        const debug = process.env.PAKASHOP_DEBUG ? `\n${(error as Error)?.stack ?? ""}` : "";
        if (error instanceof SettingError) process.stderr.write(`${settingErrorBlock(error)}${debug}\n`);
        else process.stderr.write(`error: ${debug ? debug.slice(1) : (error instanceof Error ? error.message : String(error))}\n`);
        if (typeof error === "object" && error !== null) reported.add(error);
        return 1;
    }
}

/** Runs `main` when the file is executed (not imported); `| head` closing the pipe is no error. */
export function runAsScript(mainModule: NodeModule, main: (argv: string[]) => Promise<number>): void {
    if (require.main !== mainModule) return;
    process.on("unhandledRejection", (reason) => {
        if (typeof reason === "object" && reason !== null && reported.has(reason)) return;
        throw reason;
    });
    process.stdout.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "EPIPE") process.exit(0);
        throw error;
    });
    main(process.argv.slice(2)).then((code) => {
        process.exitCode = code;
    });
}

/**
 * Runs a benchmark that drives the program against real test hosts. A failed step rejects the
 * program run (which the benchmark reports) and also the promise of the resource it belongs to,
 * which nothing awaits: that one must not end the process before the test hosts are torn down.
 * It is reported at the end, and fails the run.
 */
export function runHostBenchmark(main: () => Promise<void>): void {
    const unhandled: unknown[] = [];
    process.on("unhandledRejection", (reason) => unhandled.push(reason));
    main()
        .catch((error) => {
            console.error(error);
            process.exitCode = 1;
        })
        .finally(() => {
            if (unhandled.length > 0 && process.exitCode !== 1) {
                console.error(unhandled[0]);
                process.exitCode = 1;
            }
        });
}
