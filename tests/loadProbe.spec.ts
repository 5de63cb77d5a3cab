/**
 * The availability benchmark's load probe (tools/loadProbe.ts) against a local server that
 * fails a known share of requests: the probe must count exactly the failures the server sent,
 * and stop and report when told to.
 */
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as http from "http";
import { AddressInfo } from "net";
import { REPO_ROOT } from "../tools/stackConfig";

/** Runs the probe with 2 connections against a server on loopback for `ms`, stops it, and returns its result line. */
async function probeFor(port: number, ms: number): Promise<Record<string, number>> {
    const child = spawn(process.execPath, ["--require", "./tools/register.js", "tools/loadProbe.ts", `http://127.0.0.1:${port}/api/v1/health`, "2"], { cwd: REPO_ROOT });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    const closed = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await new Promise((resolve) => setTimeout(resolve, ms));
    child.kill("SIGTERM");
    assert.equal(await closed, 0);
    return JSON.parse(stdout.trim().split("\n").pop() as string);
}

describe("load probe (tools/loadProbe.ts)", function () {
    this.timeout(30_000);

    it("counts every non-2xx answer the server sent as failed (failed = errors + non-2xx), and reports on SIGTERM", async () => {
        let answered = 0;
        let failedByServer = 0;
        const server = http.createServer((_request, response) => {
            answered += 1;
            if (answered % 5 === 0) {
                failedByServer += 1;
                response.writeHead(502).end("bad gateway");
            } else {
                response.writeHead(200).end("ok");
            }
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as AddressInfo).port;
        try {
            const result = await probeFor(port, 1500);
            assert.ok(result.requests > 50, `only ${result.requests} requests`);
            // In-flight requests at the stop may be answered but not counted: allow those few.
            assert.ok(Math.abs(result.non2xx - failedByServer) <= 2, `probe counted ${result.non2xx} non-2xx, the server sent ${failedByServer}`);
            assert.equal(result.failed, result.errors + result.non2xx);
            assert.ok(result.failed > 0, "the probe missed the failures");
        } finally {
            await new Promise<void>((resolve) => server.close(() => resolve()));
        }
    });

    it("counts a request that times out once (autocannon's errors include its timeouts)", async () => {
        // Never answers: each of the 2 connections times out after the probe's 5 s, once.
        const server = http.createServer(() => undefined);
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as AddressInfo).port;
        try {
            const result = await probeFor(port, 7000);
            assert.deepEqual({ timeouts: result.timeouts, errors: result.errors, non2xx: result.non2xx, failed: result.failed }, { timeouts: 2, errors: 2, non2xx: 0, failed: 2 });
        } finally {
            server.closeAllConnections();
            await new Promise<void>((resolve) => server.close(() => resolve()));
        }
    });

    it("refuses a bad command line with exit 2", async () => {
        const child = spawn(process.execPath, ["--require", "./tools/register.js", "tools/loadProbe.ts", "http://127.0.0.1:1/"], { cwd: REPO_ROOT });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d));
        const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
        assert.equal(code, 2);
        assert.match(stderr, /usage: loadProbe\.ts <url> <connections>/);
    });
});
