/**
 * Steady load against one URL until told to stop, then one JSON line of what happened: run by
 * the availability benchmark inside the test network's public namespace, from the Cloudflare
 * proxy's address (the only one the origin admits). Load generation is autocannon's; this file
 * only starts it, stops it on SIGTERM and reduces its result to the counts that matter: how many
 * requests were sent, and how many failed (connection errors, timeouts, non-2xx answers).
 *
 * Usage: node --require ./tools/register.js tools/loadProbe.ts <url> <connections>
 * TLS: the origin serves a certificate for the API hostname that no public CA signed (as
 * Cloudflare's Origin CA), so the probe does not verify it, like Cloudflare's "Full" mode would
 * not; the benchmark counts availability, not trust.
 */
import autocannon from "autocannon";

const [url, connections] = process.argv.slice(2);
if (!url || !/^\d+$/.test(connections ?? "")) {
    process.stderr.write("usage: loadProbe.ts <url> <connections>\n");
    process.exit(2);
}

const instance = autocannon({
    url,
    connections: Number(connections),
    // Long enough for any deploy; the benchmark stops it when the deploy ends.
    duration: 3600,
    timeout: 5,
    tlsOptions: { rejectUnauthorized: false },
}, (error, result) => {
    if (error) {
        process.stderr.write(`${error.message}\n`);
        process.exit(1);
    }
    // autocannon's `errors` already includes its timeouts (README: "The number of connection
    // errors (including timeouts)"); adding `timeouts` again counted each timeout twice.
    const failed = result.errors + result.non2xx;
    process.stdout.write(`${JSON.stringify({ requests: result.requests.total, failed, errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, seconds: result.duration })}\n`);
});
process.on("SIGTERM", () => instance.stop());
