/**
 * `npm run -s release -- --stack <staging|production> --revision <40-hex commit>`
 * `npm run -s release -- --stack <stack> --service <id> --revision <40-hex commit>`
 * `npm run -s release -- --stack <stack> --service <id> --clear`
 * `npm run -s release -- --stack <stack> --show`
 *
 * The release manifest: the committed stack file `Pulumi.<stack>.yaml` says which commit of the
 * services monorepo a stack runs (`pakashop-infra:revision`, and `pakashop-infra:services.<id>.revision`
 * for a service pinned to another commit). The deploy workflows bump it with this tool, deploy
 * it (`pulumi up` without `--config`), and commit the change to the stack's branch, so every
 * later preview, drift check and plan reads what was deployed (docs/runbook.md).
 *
 * The edit changes that one value and nothing else: comments, key order, quoting and the
 * `secure:` ciphertexts stay byte for byte (the `yaml` package's Document API finds the value's
 * exact place in the text; adding or removing a pin re-renders the document only when it
 * renders back to the very same text unchanged, and the result is checked to differ from the
 * original in that one setting). Only the committed stacks (components/settings.ts
 * COMMITTED_STACKS) have a manifest.
 *
 * `--show` changes nothing: it prints what the manifest records as one JSON line,
 * `{"revision": "<commit>", "pins": {"<service id>": "<commit>"}}` (the staging verification reads
 * it: a pinned stack did not run the stack's revision everywhere).
 *
 * Prints `changed` or `unchanged` on stdout (what changed, on stderr). Exit codes: 0 done,
 * 2 bad command line or bad value (one line naming the flag, the value and the fix),
 * 1 the stack file can't be edited safely.
 * `--project-dir <dir>` edits the stack file of another copy of this project (tests, the e2e).
 */
import "./fastStart"; // first: caches the compilation of everything imported after it
import * as fs from "fs";
import * as path from "path";
import { isDeepStrictEqual } from "util";
import * as YAML from "yaml";
import { CATALOG } from "../components/catalog";
import { SettingError } from "../components/errors";
import { COMMITTED_STACKS, CONFIG_NAMESPACE } from "../components/settings";
import { runAsScript, runTool, UsageError } from "./cli";
import { REPO_ROOT } from "./stackConfig";

const USAGE = `usage: npm run -s release -- --stack <${COMMITTED_STACKS.join("|")}> ([--service <id>] (--revision <40-hex commit> | --clear) | --show)`;

export const REVISION_KEY = `${CONFIG_NAMESPACE}:revision`;
export const SERVICES_KEY = `${CONFIG_NAMESPACE}:services`;
const REVISION = /^[0-9a-f]{40}$/;

/** What to record: the stack's revision, one service's pin, or the removal of a pin. */
export interface ReleaseChange {
    readonly revision?: string;
    readonly service?: string;
    readonly clear?: boolean;
}

export interface ReleaseResult {
    readonly changed: boolean;
    /** The stack file's path. */
    readonly file: string;
    /** The setting, as `pulumi config` names it (`pakashop-infra:services.search.revision`). */
    readonly setting: string;
    readonly before: string | undefined;
    readonly after: string | undefined;
    /** Services pinned to their own revision after the change (a whole-stack bump keeps them). */
    readonly pinned: Readonly<Record<string, string>>;
}

/** A bad value on the command line: exit code 2, one line naming the flag, the value and the fix. */
export class ReleaseInputError extends SettingError {}

/** Only a committed stack has a release manifest; throws {@link ReleaseInputError} naming --stack. */
function validateStack(stack: string): void {
    if (!COMMITTED_STACKS.includes(stack)) {
        throw new ReleaseInputError("--stack", stack,
            `is not a committed stack (${COMMITTED_STACKS.join(", ")}); only their Pulumi.<stack>.yaml is a release manifest`,
            `use ${COMMITTED_STACKS.map((s) => `--stack ${s}`).join(" or ")}`);
    }
}

/** Checks the change's values; throws {@link ReleaseInputError} naming the flag. */
export function validateChange(stack: string, change: ReleaseChange): void {
    validateStack(stack);
    if (change.service !== undefined && !Object.hasOwn(CATALOG.services, change.service)) {
        const ids = Object.keys(CATALOG.services);
        const guess = ids.find((id) => id.toLowerCase() === change.service!.toLowerCase());
        throw new ReleaseInputError("--service", change.service, `is not a service of the catalog (${ids.join(", ")})`,
            guess ? `did you mean --service ${guess}?` : "use a service id from components/catalog.ts");
    }
    if (change.clear) {
        if (change.service === undefined) throw new ReleaseInputError("--clear", true, "removes one service's pin and needs --service", "add --service <id>");
        if (change.revision !== undefined) throw new ReleaseInputError("--clear", true, "and --revision exclude each other", "pass either --revision <commit> or --clear");
        return;
    }
    if (change.revision === undefined || !REVISION.test(change.revision)) {
        const lower = change.revision?.toLowerCase();
        throw new ReleaseInputError("--revision", change.revision,
            "must be a full 40-character lower-case git commit id (branch names and short ids move; a release must not)",
            lower !== undefined && REVISION.test(lower) ? `write it in lower case: --revision ${lower}` : "pass the full id: --revision \"$(git rev-parse <commit>)\"");
    }
}

/**
 * Layouts the yaml package can render a document in; the one that reproduces the file is used.
 * Flow sequences are written both ways, `[a, b]` and the package's default `[ a, b ]`
 * (ToStringOptions.flowCollectionPadding).
 */
const RENDER_OPTIONS: YAML.ToStringOptions[] = [true, false].flatMap((flowCollectionPadding) => [
    { lineWidth: 0, indentSeq: true, flowCollectionPadding },
    { lineWidth: 0, indentSeq: false, flowCollectionPadding },
    { lineWidth: 0, indentSeq: true, indent: 4, flowCollectionPadding },
    { lineWidth: 0, indentSeq: false, indent: 4, flowCollectionPadding },
]);

/** The config value at `keys`, as plain data, or undefined. */
function valueAt(config: unknown, keys: readonly string[]): unknown {
    let node = config;
    for (const key of keys) {
        if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
        node = (node as Record<string, unknown>)[key];
    }
    return node;
}

/** Services pinned to their own revision in a stack file's `config:` data (id -> revision). */
function pinnedOf(config: unknown): Record<string, string> {
    return Object.fromEntries(Object.entries((valueAt(config, [SERVICES_KEY]) ?? {}) as Record<string, { revision?: unknown }>)
        .filter(([, o]) => typeof o?.revision === "string").map(([id, o]) => [id, o.revision as string]));
}

/** What a release manifest records: the stack's revision, and the services pinned to another. */
export interface Manifest {
    readonly revision: string;
    readonly pins: Readonly<Record<string, string>>;
}

/**
 * Reads the manifest from a stack file's text (`file` names it in errors). Throws a plain Error
 * when the revision or a pin is not a full commit id: a manifest that names no exact commit
 * can't say what was deployed.
 */
export function readManifest(text: string, file: string): Manifest {
    const name = path.basename(file);
    const doc = YAML.parseDocument(text);
    if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors[0].message.split("\n")[0]}`);
    const config = (doc.toJSON() as Record<string, unknown> | null)?.config;
    if (typeof config !== "object" || config === null) throw new Error(`${name} has no \`config:\` map`);
    const revision = valueAt(config, [REVISION_KEY]);
    if (typeof revision !== "string" || !REVISION.test(revision)) {
        throw new Error(`${name}: ${REVISION_KEY} is ${JSON.stringify(revision) ?? "not set"}, not a full 40-character commit id; record one with npm run -s release -- --stack <stack> --revision <commit>`);
    }
    const pins = pinnedOf(config);
    for (const [id, pin] of Object.entries(pins)) {
        if (!REVISION.test(pin)) throw new Error(`${name}: ${SERVICES_KEY}.${id}.revision is ${JSON.stringify(pin)}, not a full 40-character commit id`);
    }
    return { revision, pins };
}

/** The manifest of `projectDir`'s `Pulumi.<stack>.yaml`. Throws {@link ReleaseInputError} for a stack without one. */
export function showRelease(projectDir: string, stack: string): Manifest {
    validateStack(stack);
    const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) throw new Error(`no ${path.basename(file)} in ${projectDir}`);
    return readManifest(fs.readFileSync(file, "utf8"), file);
}

/** A plain scalar's text for `value` that YAML reads back as that string (else double quotes). */
function scalarText(value: string, style: YAML.Scalar["type"]): string | undefined {
    switch (style) {
        case YAML.Scalar.QUOTE_DOUBLE: return `"${value}"`;
        case YAML.Scalar.QUOTE_SINGLE: return `'${value}'`;
        case YAML.Scalar.PLAIN:
        case undefined:
            // A commit id of digits (and at most one `e`) would read as a number.
            return typeof YAML.parse(value) === "string" ? value : `"${value}"`;
        default: return undefined; // block scalars: re-render instead
    }
}

/**
 * The stack file's text with the change applied (the file itself is not touched). `file` names
 * the file in errors. Throws a plain Error when the file can't be edited safely.
 */
export function applyRelease(text: string, file: string, change: ReleaseChange): { text: string; result: Omit<ReleaseResult, "file"> } {
    const name = path.basename(file);
    const doc = YAML.parseDocument(text);
    if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors[0].message.split("\n")[0]}`);
    const config = doc.get("config", true);
    if (!YAML.isMap(config)) throw new Error(`${name} has no \`config:\` map`);
    const keys = change.service !== undefined ? [SERVICES_KEY, change.service, "revision"] : [REVISION_KEY];
    const setting = change.service !== undefined ? `${SERVICES_KEY}.${change.service}.revision` : REVISION_KEY;
    const pathFlag = change.service !== undefined ? `--path '${setting}'` : setting;

    // Every level above the value must be a map (or missing, when a pin is added).
    let parent: YAML.YAMLMap = config;
    for (const key of keys.slice(0, -1)) {
        const node = parent.get(key, true);
        if (node === undefined) break;
        if (!YAML.isMap(node)) throw new Error(`${name}: ${key} is not a map; fix it by hand (pulumi config set ${pathFlag} <commit>)`);
        parent = node;
    }
    const before = valueAt(config.toJSON(), keys);
    if (before !== undefined && typeof before !== "string") {
        throw new Error(`${name}: ${setting} is not a plain string (${JSON.stringify(before)}); a release manifest's revision is never secret or structured: set it by hand with pulumi config set ${pathFlag} <commit>`);
    }
    const after = change.clear ? undefined : change.revision;
    if (before === after) {
        return { text, result: { changed: false, setting, before, after, pinned: pinnedOf(config.toJSON()) } };
    }

    let edited: string | undefined;
    const existing = change.clear ? undefined : doc.getIn(["config", ...keys], true);
    if (YAML.isScalar(existing) && existing.range) {
        // Replace the value's own characters and nothing else.
        const replacement = scalarText(after!, existing.type);
        if (replacement !== undefined) edited = text.slice(0, existing.range[0]) + replacement + text.slice(existing.range[1]);
    }
    if (edited === undefined) {
        // Adding or removing a pin changes the structure: render the document, but only in a layout
        // that reproduces the file as it is, so nothing else moves.
        const layout = RENDER_OPTIONS.find((options) => YAML.parseDocument(text).toString(options) === text);
        if (!layout) {
            throw new Error(`${name} would be reformatted by a structural edit (its layout is not one the yaml package reproduces); `
                + `make this change by hand: pulumi config ${change.clear ? `rm ${pathFlag}` : `set ${pathFlag} ${after}`}`);
        }
        if (change.clear) {
            config.deleteIn(keys);
            // A service left without overrides, and a services map left empty, go too.
            for (const depth of [2, 1]) {
                const node = config.getIn(keys.slice(0, depth), true);
                if (YAML.isMap(node) && node.items.length === 0) config.deleteIn(keys.slice(0, depth));
            }
        } else {
            config.setIn(keys, after);
        }
        edited = doc.toString(layout);
    }

    // The edit must change exactly that one setting.
    const was = YAML.parse(text) as Record<string, unknown>;
    const now = YAML.parse(edited) as Record<string, unknown>;
    const expected = structuredClone(was) as { config: Record<string, unknown> };
    if (after === undefined) {
        const service = (expected.config[SERVICES_KEY] as Record<string, Record<string, unknown>>);
        delete service[change.service!].revision;
        if (Object.keys(service[change.service!]).length === 0) delete service[change.service!];
        if (Object.keys(service).length === 0) delete expected.config[SERVICES_KEY];
    } else if (change.service !== undefined) {
        const services = (expected.config[SERVICES_KEY] ??= {}) as Record<string, Record<string, unknown>>;
        services[change.service] = { ...(services[change.service] ?? {}), revision: after };
    } else {
        expected.config[REVISION_KEY] = after;
    }
    if (!isDeepStrictEqual(now, expected)) throw new Error(`${name}: the edit of ${setting} would change more than that setting; nothing was written`);
    return { text: edited, result: { changed: true, setting, before, after, pinned: pinnedOf(now.config) } };
}

/**
 * Records a release in `projectDir`'s `Pulumi.<stack>.yaml`: the stack's revision, or one
 * service's pin (`service` + `revision`), or removes a pin (`service` + `clear`). Writes the
 * file only when the value changes. Throws {@link ReleaseInputError} for a bad value.
 */
export function setRevision(projectDir: string, stack: string, change: ReleaseChange): ReleaseResult {
    validateChange(stack, change);
    const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) throw new Error(`no ${path.basename(file)} in ${projectDir}`);
    const text = fs.readFileSync(file, "utf8");
    const { text: edited, result } = applyRelease(text, file, change);
    if (result.changed) fs.writeFileSync(file, edited);
    return { ...result, file };
}

interface Args extends ReleaseChange {
    stack: string;
    projectDir: string;
    /** Print the manifest instead of changing it. */
    show?: boolean;
}

function parseArgs(argv: string[]): Args {
    const args: { stack?: string; projectDir: string; revision?: string; service?: string; clear?: boolean; show?: boolean } = { projectDir: REPO_ROOT };
    for (let i = 0; i < argv.length; i++) {
        const [flag, inline] = argv[i].split(/=(.*)/s, 2);
        if (flag === "--clear" || flag === "--show") {
            if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
            args[flag === "--clear" ? "clear" : "show"] = true;
            continue;
        }
        if (!["--stack", "-s", "--revision", "--service", "--project-dir"].includes(flag)) throw new UsageError(`unknown argument ${argv[i]}`);
        const value = inline ?? argv[++i];
        if (value === undefined) throw new UsageError(`${flag} needs a value`);
        switch (flag) {
            case "--stack": case "-s": args.stack = value; break;
            case "--revision": args.revision = value; break;
            case "--service": args.service = value; break;
            default: args.projectDir = path.resolve(value); break; // --project-dir
        }
    }
    if (!args.stack) throw new UsageError("--stack is required");
    if (args.show) {
        if (args.revision !== undefined || args.service !== undefined || args.clear) throw new UsageError("--show only prints the manifest: drop --revision, --service and --clear");
        return args as Args;
    }
    if (args.revision === undefined && !args.clear) throw new UsageError("--revision <commit> (or --service <id> --clear) is required");
    return args as Args;
}

export function main(argv: string[]): Promise<number> {
    return runTool(argv, USAGE, parseArgs, async (args) => {
        if (args.show) {
            let manifest: Manifest;
            try {
                manifest = showRelease(args.projectDir, args.stack);
            } catch (error) {
                if (!(error instanceof ReleaseInputError)) throw error;
                process.stderr.write(`error: ${error.message}\n`);
                return 2;
            }
            process.stdout.write(`${JSON.stringify({ revision: manifest.revision, pins: manifest.pins })}\n`);
            return 0;
        }
        let result: ReleaseResult;
        try {
            result = setRevision(args.projectDir, args.stack, args);
        } catch (error) {
            if (!(error instanceof ReleaseInputError)) throw error;
            process.stderr.write(`error: ${error.message}\n`);
            return 2;
        }
        const name = path.basename(result.file);
        process.stderr.write(result.changed
            ? `${name}: ${result.setting} ${result.before ?? "(not set)"} -> ${result.after ?? "(removed)"}\n`
            : `${name}: ${result.setting} is already ${result.after ?? "(not set)"}\n`);
        const others = Object.entries(result.pinned).filter(([id]) => id !== args.service);
        if (args.service === undefined && others.length > 0) {
            process.stderr.write(`note: pinned services keep their own revision: ${others.map(([id, rev]) => `${id} ${rev}`).join(", ")} `
                + "(remove a pin with --service <id> --clear)\n");
        }
        process.stdout.write(result.changed ? "changed\n" : "unchanged\n");
        return 0;
    });
}

runAsScript(module, main);
