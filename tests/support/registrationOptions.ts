/**
 * Resource options as the engine receives them. `tools/offlineRun.ts` records parent and
 * `dependsOn`; the mocks' `newResource` sees no options at all. This wraps the mock monitor's
 * `registerResource` for one run and reads the options off each registration request, so a
 * test can assert what the engine would be told (here `deleteBeforeReplace`).
 */
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";

interface RegisterResourceRequest {
    getType(): string;
    getName(): string;
    getDeletebeforereplace(): boolean;
}
type Register = (this: MockMonitor, req: RegisterResourceRequest, callback: (err: unknown, response: unknown) => void) => Promise<void>;

/** Registration options by `<type>::<name>`. */
export interface RegistrationOptions {
    readonly deleteBeforeReplace: boolean;
}

/** Runs `run` (one offline run of the program) and returns every resource's registration options. */
export async function registrationOptions(run: () => Promise<unknown>): Promise<Map<string, RegistrationOptions>> {
    const seen = new Map<string, RegistrationOptions>();
    const prototype = MockMonitor.prototype as unknown as { registerResource: Register };
    const original = prototype.registerResource;
    prototype.registerResource = function (req, callback) {
        seen.set(`${req.getType()}::${req.getName()}`, { deleteBeforeReplace: req.getDeletebeforereplace() });
        return original.call(this, req, callback);
    };
    try {
        await run();
    } finally {
        prototype.registerResource = original;
    }
    return seen;
}
