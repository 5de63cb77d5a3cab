/**
 * One measured run for `npm run bench`: the offline production plan, exactly as
 * `npm run plan -- --stack production --format json` does it, then this process's peak RSS.
 */
import "./compileCache"; // first: caches the compilation of everything imported after it
import { main } from "./plan";

main(["--stack", process.argv[2] ?? "production", "--format", "json"]).then((code) => {
    process.stderr.write(`${JSON.stringify({ exitCode: code, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
    process.exitCode = code;
});
