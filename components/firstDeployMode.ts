/**
 * A new stack's first deploy builds the foundation only (components/platform.ts): the network,
 * the in-VPC deploy runner, the Instance Connect Endpoint and the GitHub roles, with nothing
 * but AWS's APIs. It is asked for with the environment variable {@link FIRST_DEPLOY_ENV} set to
 * the stack's name, which `npm run first-deploy -- --stack <stack> --run` does, together with a
 * `--target` for every foundation resource (so nothing else in the stack could be touched even
 * if it existed) and only after checking that the stack's outputs show no full deploy. Set by
 * hand and followed by an untargeted `pulumi up`, it would plan to delete every tier: never
 * export it in a shell.
 */
import { SettingError } from "./errors";

export const FIRST_DEPLOY_ENV = "PAKASHOP_FIRST_DEPLOY";

/**
 * Whether this run is `stack`'s first deploy. The variable must name the stack: a value left
 * in a shell for another stack stops the program instead of shrinking this one.
 */
export function isFirstDeploy(stack: string, env: NodeJS.ProcessEnv = process.env): boolean {
    const value = env[FIRST_DEPLOY_ENV];
    if (value === undefined || value === "") return false;
    if (value !== stack) {
        throw new SettingError(FIRST_DEPLOY_ENV, value, `asks for the first deploy of another stack than ${stack}`,
            `unset ${FIRST_DEPLOY_ENV} (a full deploy), or run npm run first-deploy -- --stack ${stack}`);
    }
    return true;
}
