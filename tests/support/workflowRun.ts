/**
 * A small simulator of how GitHub Actions decides which jobs of a workflow run, for the tests
 * of the staging verification gate (tests/stagingGateWorkflows.spec.ts). It reads the real
 * workflow's `jobs:` (`needs`, `if`), is told what each job that runs does (its result and
 * outputs), and reports every job's result, `skipped` included.
 *
 * It follows GitHub's documented rules and nothing it was not told:
 * - "You can use the jobs.<job_id>.if conditional to prevent a job from running unless a
 *   condition is met ... Otherwise, the job will be marked as skipped." (GitHub docs, "Using
 *   conditions to control job execution").
 * - "A default status check of success() is applied unless you include one of these
 *   functions" (GitHub docs, "Evaluate expressions in workflows and actions", status check
 *   functions): an `if` without success(), failure(), cancelled() or always() means
 *   `success() && (<if>)`, and no `if` means `success()`.
 * - "If a job fails or is skipped, all jobs that need it are skipped unless the jobs use a
 *   conditional expression that causes the job to continue. If a run contains a series of jobs
 *   that need each other, a failure or skip applies to all jobs in the dependency chain from the
 *   point of failure or skip onwards." (GitHub docs, "Workflow syntax for GitHub Actions",
 *   jobs.<job_id>.needs). So at job level success() is true only when every job up the chain
 *   (not only the listed needs) succeeded; actions/runner issue 2205 shows the same in practice.
 * - `needs.<job_id>.result` is one of success, failure, cancelled, skipped, and
 *   `needs.<job_id>.outputs` holds the job's outputs (GitHub docs, "Contexts reference", needs
 *   context); only the job's direct needs are in its needs context.
 * - Comparisons: "GitHub ignores case when comparing strings"; values of different types are
 *   coerced to numbers (null 0, booleans 1/0, strings parsed, '' 0, otherwise NaN, which equals
 *   nothing); `&&` and `||` return one of their operands; falsy are false, 0, -0, '', null
 *   (GitHub docs, "Evaluate expressions in workflows and actions", operators).
 *
 * The expression evaluator knows exactly the subset these workflows use: string, number,
 * boolean and null literals, `==`, `!=`, `&&`, `||`, `!`, parentheses, success(), failure(),
 * cancelled(), always(), format('<text with {0}>', ...), needs.<job>.result,
 * needs['<job>'].result, needs.<job>.outputs.<x>, github.event_name, github.actor, github.run_id,
 * inputs.<x> and vars.<NAME>. An unset configuration variable reads as '': "If a variable has not
 * been set, the return value of a context referencing the variable will be an empty string"
 * (GitHub docs, "Store information in variables", using the vars context). format() replaces
 * {N} with its N-th argument as a string, {{ and }} with braces (GitHub docs, "Evaluate
 * expressions in workflows and actions", format). Anything else throws: a test must never pass
 * because the simulator guessed.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

/** A job's result as the needs context reports it. */
export type JobResult = "success" | "failure" | "cancelled" | "skipped";

/** A value of an expression. */
export type Value = string | number | boolean | null | { readonly [key: string]: Value };

/** What a job does when it runs (jobs that don't run are skipped). */
export interface Outcome {
    readonly result: "success" | "failure" | "cancelled";
    readonly outputs?: Readonly<Record<string, string>>;
}

/** One run of a workflow, as the test sets it up. */
export interface RunSetup {
    /** github.event_name: push, workflow_dispatch, repository_dispatch. */
    readonly event: string;
    /** workflow_dispatch inputs given (declared inputs not given are ''); other events have none (null). */
    readonly inputs?: Readonly<Record<string, string>>;
    /** Per job: what it does when it runs. A job not listed succeeds with no outputs. */
    readonly outcomes?: Readonly<Record<string, Outcome>>;
    /** The run was cancelled before the jobs were evaluated (cancelled() true, success() false). */
    readonly cancelled?: boolean;
    /** github.actor: who triggered the run (for a push, the pusher). Default "octocat". */
    readonly actor?: string;
    /** Configuration variables (vars context); one not given reads as ''. */
    readonly vars?: Readonly<Record<string, string>>;
}

/** github.run_id of every simulated run. */
export const SIMULATED_RUN_ID = "42";

/** One job's part in a simulated run. */
export interface JobRun {
    readonly ran: boolean;
    readonly result: JobResult;
    readonly outputs: Readonly<Record<string, string>>;
    /** The job's needs context as GitHub gives it (what `toJSON(needs)` renders). */
    readonly needs: Readonly<Record<string, { result: JobResult; outputs: Record<string, string> }>>;
}

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

type Token = { kind: "string" | "number" | "word" | "op"; text: string };
type Node =
    | { type: "literal"; value: Value }
    | { type: "path"; parts: string[] }
    | { type: "call"; name: string; args: Node[] }
    | { type: "not"; operand: Node }
    | { type: "binary"; op: "==" | "!=" | "&&" | "||"; left: Node; right: Node };

const STATUS_FUNCTIONS = ["success", "failure", "cancelled", "always"];
const FUNCTIONS = [...STATUS_FUNCTIONS, "format"];

function tokenize(source: string): Token[] {
    const tokens: Token[] = [];
    let i = 0;
    while (i < source.length) {
        const rest = source.slice(i);
        const space = /^\s+/.exec(rest);
        if (space) { i += space[0].length; continue; }
        const string = /^'((?:[^']|'')*)'/.exec(rest);
        if (string) { tokens.push({ kind: "string", text: string[1].replace(/''/g, "'") }); i += string[0].length; continue; }
        const number = /^-?\d+(\.\d+)?\b/.exec(rest);
        if (number) { tokens.push({ kind: "number", text: number[0] }); i += number[0].length; continue; }
        const word = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(rest);
        if (word) { tokens.push({ kind: "word", text: word[0] }); i += word[0].length; continue; }
        const op = /^(==|!=|&&|\|\||!|\(|\)|\.|\[|\]|,)/.exec(rest);
        if (op) { tokens.push({ kind: "op", text: op[0] }); i += op[0].length; continue; }
        throw new Error(`unsupported expression syntax at "${rest}" in: ${source}`);
    }
    return tokens;
}

/** Parses an expression of the supported subset (precedence: `!`, then `==`/`!=`, `&&`, `||`). */
export function parseExpression(source: string): Node {
    const tokens = tokenize(source);
    let at = 0;
    const peek = () => tokens[at];
    const isOp = (text: string) => peek()?.kind === "op" && peek().text === text;
    const expect = (text: string) => {
        if (!isOp(text)) throw new Error(`expected "${text}" at token ${at} in: ${source}`);
        at++;
    };
    const or = (): Node => {
        let left = and();
        while (isOp("||")) { at++; left = { type: "binary", op: "||", left, right: and() }; }
        return left;
    };
    const and = (): Node => {
        let left = comparison();
        while (isOp("&&")) { at++; left = { type: "binary", op: "&&", left, right: comparison() }; }
        return left;
    };
    const comparison = (): Node => {
        const left = unary();
        if (isOp("==") || isOp("!=")) {
            const op = tokens[at++].text as "==" | "!=";
            const right = unary();
            if (isOp("==") || isOp("!=")) throw new Error(`chained comparison (unsupported) in: ${source}`);
            return { type: "binary", op, left, right };
        }
        return left;
    };
    const unary = (): Node => {
        if (isOp("!")) { at++; return { type: "not", operand: unary() }; }
        return primary();
    };
    const primary = (): Node => {
        const token = peek();
        if (!token) throw new Error(`unexpected end of expression: ${source}`);
        if (isOp("(")) { at++; const inner = or(); expect(")"); return inner; }
        if (token.kind === "string") { at++; return { type: "literal", value: token.text }; }
        if (token.kind === "number") { at++; return { type: "literal", value: Number(token.text) }; }
        if (token.kind !== "word") throw new Error(`unexpected "${token.text}" in: ${source}`);
        at++;
        if (["true", "false", "null"].includes(token.text)) return { type: "literal", value: token.text === "null" ? null : token.text === "true" };
        if (isOp("(")) {
            if (!FUNCTIONS.includes(token.text)) throw new Error(`unsupported function ${token.text}() in: ${source}`);
            at++;
            const args: Node[] = [];
            if (!isOp(")")) {
                args.push(or());
                while (isOp(",")) { at++; args.push(or()); }
            }
            expect(")");
            if (STATUS_FUNCTIONS.includes(token.text) && args.length > 0) throw new Error(`${token.text}() takes no arguments in: ${source}`);
            if (token.text === "format" && args[0]?.type !== "literal") throw new Error(`format() needs a string literal first in: ${source}`);
            return { type: "call", name: token.text, args };
        }
        const parts = [token.text];
        for (;;) {
            if (isOp(".")) {
                at++;
                const next = peek();
                if (next?.kind !== "word") throw new Error(`expected a property name after "." in: ${source}`);
                parts.push(next.text);
                at++;
            } else if (isOp("[")) {
                at++;
                const key = peek();
                if (key?.kind !== "string") throw new Error(`only ['<name>'] indexes are supported in: ${source}`);
                parts.push(key.text);
                at++;
                expect("]");
            } else break;
        }
        return { type: "path", parts };
    };
    const node = or();
    if (at !== tokens.length) throw new Error(`unexpected "${tokens[at].text}" in: ${source}`);
    return node;
}

/** Whether an expression calls a status check function (else GitHub adds success()). */
export function usesStatusFunction(node: Node): boolean {
    switch (node.type) {
        case "call": return STATUS_FUNCTIONS.includes(node.name) || node.args.some(usesStatusFunction);
        case "not": return usesStatusFunction(node.operand);
        case "binary": return usesStatusFunction(node.left) || usesStatusFunction(node.right);
        default: return false;
    }
}

/** What an expression can read: contexts and the status functions' answers. */
export interface ExpressionScope {
    readonly event: string;
    /** github.actor (default "octocat"). */
    readonly actor?: string;
    /** Configuration variables; one not given reads as ''. */
    readonly vars?: Readonly<Record<string, string>>;
    /** null: the event has no inputs. */
    readonly inputs: Readonly<Record<string, string>> | null;
    readonly needs: Readonly<Record<string, { result: JobResult; outputs: Record<string, string> }>>;
    readonly status: { readonly success: boolean; readonly failure: boolean; readonly cancelled: boolean };
}

/** A value as format() writes it: null as '', booleans and numbers as text. */
function asString(value: Value): string {
    if (value === null) return "";
    if (typeof value === "object") throw new Error("format() of an object is not supported");
    return String(value);
}

function truthy(value: Value): boolean {
    return !(value === false || value === 0 || value === "" || value === null || (typeof value === "number" && Number.isNaN(value)));
}

function toNumber(value: Value): number {
    if (value === null) return 0;
    if (typeof value === "boolean") return value ? 1 : 0;
    if (typeof value === "number") return value;
    if (typeof value === "string") return value.trim() === "" ? 0 : Number(value);
    return NaN;
}

function looseEqual(a: Value, b: Value): boolean {
    if (typeof a === typeof b && (a === null) === (b === null)) {
        if (typeof a === "string") return a.toLowerCase() === (b as string).toLowerCase();
        return a === b;
    }
    const x = toNumber(a);
    const y = toNumber(b);
    return !Number.isNaN(x) && !Number.isNaN(y) && x === y;
}

function lookup(parts: string[], scope: ExpressionScope, source: string): Value {
    const [context, ...rest] = parts;
    if (context === "github") {
        if (rest.length === 1 && rest[0] === "event_name") return scope.event;
        if (rest.length === 1 && rest[0] === "actor") return scope.actor ?? "octocat";
        if (rest.length === 1 && rest[0] === "run_id") return SIMULATED_RUN_ID;
        throw new Error(`unsupported context path ${parts.join(".")} in: ${source}`);
    }
    if (context === "inputs") {
        if (rest.length !== 1) throw new Error(`unsupported context path ${parts.join(".")} in: ${source}`);
        if (scope.inputs === null) return null;
        if (!Object.hasOwn(scope.inputs, rest[0])) throw new Error(`inputs.${rest[0]} is not a declared input (in: ${source})`);
        return scope.inputs[rest[0]];
    }
    if (context === "vars") {
        if (rest.length !== 1) throw new Error(`unsupported context path ${parts.join(".")} in: ${source}`);
        return scope.vars?.[rest[0]] ?? "";
    }
    if (context === "needs") {
        const [job, field, output, ...more] = rest;
        if (job === undefined || !Object.hasOwn(scope.needs, job)) throw new Error(`needs.${job} is not a job this job needs (in: ${source})`);
        if (field === "result" && output === undefined) return scope.needs[job].result;
        if (field === "outputs" && output !== undefined && more.length === 0) return scope.needs[job].outputs[output] ?? "";
        throw new Error(`unsupported context path ${parts.join(".")} in: ${source}`);
    }
    throw new Error(`unsupported context ${context} in: ${source}`);
}

function evaluateNode(node: Node, scope: ExpressionScope, source: string): Value {
    switch (node.type) {
        case "literal": return node.value;
        case "path": return lookup(node.parts, scope, source);
        case "call": {
            if (node.name === "format") {
                const [pattern, ...args] = node.args.map((arg) => evaluateNode(arg, scope, source));
                return String(pattern).replace(/\{\{|\}\}|\{(\d+)\}/g, (whole, index?: string) => {
                    if (index === undefined) return whole[0];
                    if (Number(index) >= args.length) throw new Error(`format() has no argument ${index} in: ${source}`);
                    return asString(args[Number(index)]);
                });
            }
            return node.name === "always" ? true : scope.status[node.name as "success" | "failure" | "cancelled"];
        }
        case "not": return !truthy(evaluateNode(node.operand, scope, source));
        case "binary": {
            const left = evaluateNode(node.left, scope, source);
            if (node.op === "&&") return truthy(left) ? evaluateNode(node.right, scope, source) : left;
            if (node.op === "||") return truthy(left) ? left : evaluateNode(node.right, scope, source);
            const equal = looseEqual(left, evaluateNode(node.right, scope, source));
            return node.op === "==" ? equal : !equal;
        }
    }
}

/** The expression inside `${{ }}` (an `if` may be written with or without it). */
function unwrap(condition: string): string {
    const wrapped = /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(condition);
    if (wrapped && wrapped[1].includes("}}")) throw new Error(`unsupported: several expressions in one if: ${condition}`);
    return wrapped ? wrapped[1].trim() : condition.trim();
}

/** Evaluates a value's expression (with or without `${{ }}`), e.g. a workflow's concurrency group. */
export function evaluateExpression(expression: string, scope: ExpressionScope): Value {
    const source = unwrap(expression);
    const node = parseExpression(source);
    if (usesStatusFunction(node)) throw new Error(`a status function outside an if: ${expression}`);
    return evaluateNode(node, scope, source);
}

/**
 * Evaluates a job's `if` the way GitHub does: the default success() applied unless the
 * expression calls a status function; undefined (no `if`) is success(). Throws on syntax or
 * contexts outside the supported subset.
 */
export function evaluateIf(condition: string | boolean | undefined, scope: ExpressionScope): boolean {
    if (condition === undefined) return scope.status.success;
    const source = unwrap(String(condition));
    const node = parseExpression(source);
    const value = truthy(evaluateNode(node, scope, source));
    return usesStatusFunction(node) ? value : scope.status.success && value;
}

// ---------------------------------------------------------------------------------------------
// The job graph
// ---------------------------------------------------------------------------------------------

const needsOf = (job: Doc): string[] => (job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs]);

/** The jobs in an order where every job comes after the jobs it needs; throws on unknown needs or cycles. */
function order(jobs: Doc): string[] {
    const done: string[] = [];
    const visiting = new Set<string>();
    const visit = (id: string, from?: string) => {
        if (!Object.hasOwn(jobs, id)) throw new Error(`${from} needs ${id}, which is not a job of the workflow`);
        if (done.includes(id)) return;
        if (visiting.has(id)) throw new Error(`needs cycle through ${id}`);
        visiting.add(id);
        for (const need of needsOf(jobs[id])) visit(need, id);
        visiting.delete(id);
        done.push(id);
    };
    for (const id of Object.keys(jobs)) visit(id);
    return done;
}

/**
 * Simulates one run of `workflow` (a parsed workflow file): which jobs run, and every job's
 * result and outputs. A job's outcome comes from `setup.outcomes` when it runs.
 */
export function simulateRun(workflow: Doc, setup: RunSetup): Record<string, JobRun> {
    const jobs = workflow.jobs as Doc;
    const declared = Object.keys(workflow.on?.workflow_dispatch?.inputs ?? {});
    let inputs: Record<string, string> | null = null;
    if (setup.event === "workflow_dispatch") {
        for (const name of Object.keys(setup.inputs ?? {})) if (!declared.includes(name)) throw new Error(`input ${name} is not declared by the workflow`);
        inputs = Object.fromEntries(declared.map((name) => [name, setup.inputs?.[name] ?? String(workflow.on.workflow_dispatch.inputs[name]?.default ?? "")]));
    } else if (setup.inputs !== undefined) {
        throw new Error(`a ${setup.event} run has no inputs`);
    }
    for (const id of Object.keys(setup.outcomes ?? {})) if (!Object.hasOwn(jobs, id)) throw new Error(`outcome for ${id}, which is not a job of the workflow`);

    const runs: Record<string, JobRun> = {};
    const ancestors = (id: string): string[] => [...new Set(needsOf(jobs[id]).flatMap((need) => [need, ...ancestors(need)]))];
    for (const id of order(jobs)) {
        const up = ancestors(id).map((a) => runs[a].result);
        const needs = Object.fromEntries(needsOf(jobs[id]).map((need) => [need, { result: runs[need].result, outputs: { ...runs[need].outputs } }]));
        const scope: ExpressionScope = {
            event: setup.event,
            actor: setup.actor,
            vars: setup.vars,
            inputs,
            needs,
            status: {
                success: !setup.cancelled && up.every((r) => r === "success"),
                failure: up.includes("failure"),
                cancelled: Boolean(setup.cancelled),
            },
        };
        if (!evaluateIf(jobs[id].if, scope)) {
            runs[id] = { ran: false, result: "skipped", outputs: {}, needs };
            continue;
        }
        const outcome = setup.outcomes?.[id] ?? { result: "success" };
        for (const name of Object.keys(outcome.outputs ?? {})) {
            if (!Object.hasOwn(jobs[id].outputs ?? {}, name)) throw new Error(`${id} declares no output ${name}`);
        }
        runs[id] = { ran: true, result: outcome.result, outputs: { ...(outcome.outputs ?? {}) }, needs };
    }
    return runs;
}
