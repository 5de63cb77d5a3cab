/**
 * Imported first by the command-line tools, for start-up speed:
 * - Node's on-disk compile cache (Node 22.1+): the second and later runs skip compiling
 *   @pulumi/pulumi's and the providers' JavaScript (about 0.25 s). NODE_COMPILE_CACHE wins.
 * - Source maps off and short stack traces: Pulumi's runtime captures a stack trace for each
 *   of its promises, which costs when traces are long or source-mapped (about 0.3 s over a
 *   plan). The tools' errors name the setting or the resource; PAKASHOP_DEBUG=1 keeps full traces.
 */
import * as nodeModule from "module";

const withCache = nodeModule as typeof nodeModule & { enableCompileCache?: () => unknown };
withCache.enableCompileCache?.();
if (!process.env.PAKASHOP_DEBUG) {
    process.setSourceMapsEnabled(false);
    // Pulumi's runtime takes a stack trace for each of its promises, to report leaks; short
    // traces make that cheap (about 0.15 s over a plan).
    Error.stackTraceLimit = 3;
}
