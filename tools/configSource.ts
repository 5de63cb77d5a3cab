/** A {@link ConfigSource} over a stack config loaded from the stack files (offline tools, tests). */
import { ConfigSource, CONFIG_NAMESPACE } from "../components/configReaders";
import { StackConfig } from "./stackConfig";

export function configSource(stackConfig: StackConfig): ConfigSource {
    const prefix = `${CONFIG_NAMESPACE}:`;
    return {
        get: (key) => stackConfig.config[prefix + key],
        isSecret: (key) => stackConfig.secretKeys.includes(prefix + key),
        keys: () => Object.keys(stackConfig.config).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)),
        allKeys: () => Object.keys(stackConfig.config),
        isPlaceholder: (key) => stackConfig.placeholderSecrets.includes(prefix + key),
    };
}
