/**
 * Adapts Pulumi's runtime configuration to {@link ConfigSource}. Reads raw values (so secret
 * values are not logged as "secret read with get") and asks the runtime which were secret.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigSource, CONFIG_NAMESPACE } from "./configReaders";
import { isOfflinePlaceholder } from "./settingsSchema";

// `isConfigSecret` is exported by the runtime's config module but not declared in its types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (key: string) => boolean };

export function pulumiConfigSource(): ConfigSource {
    const prefix = `${CONFIG_NAMESPACE}:`;
    return {
        get: (key) => pulumi.runtime.getConfig(prefix + key),
        isSecret: (key) => {
            if (!runtimeConfig.isConfigSecret) throw new Error("this @pulumi/pulumi has no isConfigSecret; pin a supported version");
            return runtimeConfig.isConfigSecret(prefix + key);
        },
        keys: () => Object.keys(pulumi.runtime.allConfig())
            .filter((key) => key.startsWith(prefix))
            .map((key) => key.slice(prefix.length)),
        allKeys: () => Object.keys(pulumi.runtime.allConfig()),
        isPlaceholder: (key) => isOfflinePlaceholder(prefix + key, pulumi.runtime.getConfig(prefix + key)),
    };
}
