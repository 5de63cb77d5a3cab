/**
 * The hostnames every stack claims in the shared zone. Production owns the zone-wide pieces
 * (the origin rules route each stack's frontend `/api/` to that stack's API origin), and every
 * stack checks that no two stacks claim one hostname.
 *
 * The current stack's hostnames come from its own validated settings. Another stack's come
 * from its file, and only for the committed stacks (`COMMITTED_STACKS`): a developer's
 * `Pulumi.dev.yaml` lying in the folder is not part of this project's deploys and must not
 * change production's rules. Those files are input like any other: each is read through the
 * same {@link ConfigSource} interface and the same readers (`readEdge`) as in its own stack,
 * with `Pulumi.yaml`'s defaults, and a bad value stops the program with an error naming the
 * file, the setting and the value. Values end up in Cloudflare Rules expressions
 * (components/edge.ts), so this validation is what stands between a stack file and the
 * expression language; `apiRouteExpression` refuses non-hostnames once more.
 */
import { ConfigSource, CONFIG_NAMESPACE } from "./configReaders";
import { secretAwareError, SettingError } from "./errors";
import { PlatformSettings, readEdge } from "./platformSettings";
import { COMMITTED_STACKS } from "./settings";
import { asConfigString, isSecureValue, readStackFile } from "./stackFile";

export interface ZoneRoute {
    readonly stack: string;
    readonly frontendHostname: string;
    readonly apiHostname: string;
    /** Which of the hostnames are secret (stored encrypted): an error never shows them. */
    readonly secret?: readonly ("frontendHostname" | "apiHostname")[];
}

/** The stack the program runs for, with its validated edge settings. */
export interface CurrentStack {
    readonly stack: string;
    readonly edge: PlatformSettings["edge"];
}

/**
 * A {@link ConfigSource} over a stack file, as the Pulumi CLI would hand its values to the
 * program: `Pulumi.yaml`'s defaults, then the file's values, each as a string (JSON for
 * anything that is not one). Encrypted values are secret and have no readable value.
 */
export function stackFileSource(projectDir: string, stack: string): ConfigSource {
    const file = readStackFile(projectDir, stack);
    if (!file) {
        throw new Error(`Pulumi.${stack}.yaml is missing: ${stack} is a committed stack of this project and the shared zone's routes need its hostnames`);
    }
    const prefix = `${CONFIG_NAMESPACE}:`;
    return {
        get: (key) => {
            const value = file.values[prefix + key];
            return value === undefined || value === null || isSecureValue(value) ? undefined : asConfigString(value);
        },
        isSecret: (key) => isSecureValue(file.values[prefix + key]),
        keys: () => file.setKeys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)),
    };
}

/** Another committed stack's hostnames, validated as in its own stack; errors name the file. */
function committedStackRoute(projectDir: string, stack: string): ZoneRoute & { readonly zoneName: string } {
    const file = `Pulumi.${stack}.yaml`;
    try {
        const source = stackFileSource(projectDir, stack);
        const edge = readEdge(source, stack);
        const secret = (["frontendHostname", "apiHostname"] as const).filter((key) => source.isSecret(key));
        return { stack, frontendHostname: edge.frontendHostname, apiHostname: edge.apiHostname, zoneName: edge.zoneName, ...(secret.length > 0 ? { secret } : {}) };
    } catch (error) {
        if (!(error instanceof SettingError)) throw error;
        throw new SettingError(`${file}: ${error.setting}`, error.value, error.rule,
            `${error.fix} in ${file} (this stack reads that file for the shared zone's routes)`);
    }
}

/**
 * Every stack's hostnames in the current stack's zone: the current stack's own, and those of
 * the committed stacks that share its zone, sorted by stack name.
 */
export function readZoneRoutes(projectDir: string, current: CurrentStack): ZoneRoute[] {
    const own: ZoneRoute = { stack: current.stack, frontendHostname: current.edge.frontendHostname, apiHostname: current.edge.apiHostname };
    const others = COMMITTED_STACKS
        .filter((stack) => stack !== current.stack)
        .map((stack) => committedStackRoute(projectDir, stack))
        // A committed stack in another zone has nothing to route in this one.
        .filter((route) => route.zoneName === current.edge.zoneName)
        .map(({ stack, frontendHostname, apiHostname, secret }): ZoneRoute => ({ stack, frontendHostname, apiHostname, ...(secret ? { secret } : {}) }));
    return [own, ...others].sort((a, b) => a.stack.localeCompare(b.stack));
}

/** Throws when two stacks claim the same hostname. */
export function assertNoCollisions(routes: readonly ZoneRoute[]): void {
    const owner = new Map<string, { stack: string; setting: string; secret: boolean }>();
    for (const route of routes) {
        for (const [key, hostname] of [["frontendHostname", route.frontendHostname], ["apiHostname", route.apiHostname]] as const) {
            const other = owner.get(hostname);
            const secret = route.secret?.includes(key) === true;
            if (other !== undefined && other.stack !== route.stack) {
                // The same value is the other stack's setting too: secret if either one is.
                throw secretAwareError(`${CONFIG_NAMESPACE}:${key}`, hostname, `stacks ${other.stack} and ${route.stack} both claim it in the shared zone`,
                    `give Pulumi.${route.stack}.yaml a hostname of its own`,
                    { secret: secret || other.secret, values: [hostname], mentions: [{ setting: `Pulumi.${other.stack}.yaml: ${other.setting}`, secret: other.secret }] });
            }
            owner.set(hostname, { stack: route.stack, setting: `${CONFIG_NAMESPACE}:${key}`, secret });
        }
    }
}
