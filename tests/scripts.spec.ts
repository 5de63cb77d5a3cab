import { strict as assert } from "assert";
import { CATALOG } from "../components/catalog";
import { renderBootstrapScript } from "../host/bootstrap";
import { releaseIdOf, renderPrepareScript } from "../host/prepare/prepareScript";
import { renderSwitchScript } from "../host/switch/switchScript";
import { renderDestroyScript } from "../host/switch/destroyScript";
import { renderNginxSite, renderProxyScript } from "../host/proxy";
import { meilisearchDownloadUrl, renderMeilisearchScript } from "../host/data/meilisearch";
import { renderRedisScript } from "../host/data/redis";
import { renderConsoleHostKeyScript } from "../components/scripts/consoleHostKey";
import { renderDrainScript, renderRetireCreateScript, renderRetireScript, renderReturnScript } from "../components/scripts/targetGroup";
import { renderProbeScript } from "../tools/drift/hostState";
import { contentHash, heredoc, remoteInvocation, shellQuote } from "../host/shell";
import { renderSshWaitScript } from "../components/serviceRollout";
import { exec } from "./helpers";

const SHA256 = "b".repeat(64);
/** A release per service, as the program names them from a folder's tree. */
const RELEASES = Object.fromEntries(Object.values(CATALOG.services).map((s) => [s.id, releaseIdOf(s, "4f1c2d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d")]));

/** Every script the program can send to a host, by name. */
function allScripts(): Record<string, string> {
    const scripts: Record<string, string> = {
        bootstrap: renderBootstrapScript("admin", "i-0123456789abcdef0"),
        proxy: renderProxyScript(CATALOG),
        "proxy without origin certificate": renderProxyScript(CATALOG, false),
        "ssh-ready": renderSshWaitScript(),
        "host-key": renderConsoleHostKeyScript(),
        drain: renderDrainScript(),
        return: renderReturnScript(),
        retire: renderRetireScript(),
        "retire-create": renderRetireCreateScript(),
        redis: renderRedisScript({ bindAddress: "10.10.128.10", maxMemoryMb: 1024, evictionPolicy: "allkeys-lru" }),
        meilisearch: renderMeilisearchScript({
            version: "v1.7.6", sha256: "a".repeat(64), downloadUrl: meilisearchDownloadUrl("v1.7.6", "x86_64"), bindAddress: "10.10.144.10", dataVolumeId: "vol-0123",
        }),
        "drift probe": renderProbeScript(Object.keys(CATALOG.services)),
    };
    for (const service of Object.values(CATALOG.services)) scripts[`prepare ${service.id}`] = renderPrepareScript(service, { releaseId: RELEASES[service.id], sha256: SHA256 });
    scripts.switch = renderSwitchScript(CATALOG, RELEASES, { healthTimeoutSeconds: 90 });
    scripts.destroy = renderDestroyScript("i-0123456789abcdef0");
    return scripts;
}

function shellcheck(text: string, shell: "bash" | "sh") {
    return exec("shellcheck", ["--shell", shell, "--severity=style", "--external-sources", "-"], { input: text });
}

describe("rendered scripts", () => {
    const scripts = allScripts();

    it("renders the 12 host and runner scripts, a prepare script per service, the switch and its destroy", () => {
        assert.equal(Object.keys(scripts).length, 12 + 19 + 2);
    });

    it("secrets reach the hosts on standard input, never in a script", () => {
        for (const [name, script] of Object.entries(scripts)) {
            if (name.startsWith("prepare ")) assert.doesNotMatch(script, /PASSWORD|DATABASE_URL|MASTER_KEY|\/dev\/stdin/, `${name} reads no secret`);
        }
        assert.match(scripts.redis, /IFS= read -r password/);
        assert.match(scripts.meilisearch, /IFS= read -r master_key/);
        assert.doesNotMatch(scripts.redis, /requirepass [^%]/);
    });

    it("the Meilisearch script refuses a binary whose SHA-256 differs, and Redis is configured as set", () => {
        assert.match(scripts.meilisearch, /sha256sum --check --status \\\n\s+\|\| fail "SHA-256 of/);
        assert.match(scripts.meilisearch, /--env production/);
        assert.match(scripts.redis, /^bind 10\.10\.128\.10 127\.0\.0\.1$/m);
        assert.match(scripts.redis, /^appendonly yes$/m);
        assert.match(scripts.redis, /^maxmemory 1024mb$/m);
        assert.match(scripts.redis, /^maxmemory-policy allkeys-lru$/m);
        assert.match(scripts.redis, /systemctl enable --quiet redis-server/);
    });

    for (const [name, text] of Object.entries(allScripts())) {
        it(`${name} passes shellcheck`, () => {
            const result = shellcheck(text, "bash");
            assert.equal(result.status, 0, result.output);
        });
    }

    it("the remote invocation around a script passes shellcheck as POSIX sh, for root and for sudo", () => {
        for (const user of ["root", "admin"]) {
            for (const name of ["prepare search", "switch"]) {
                const result = shellcheck(`#!/bin/sh\n${remoteInvocation(scripts[name], user)}\n`, "sh");
                assert.equal(result.status, 0, result.output);
            }
        }
        assert.match(remoteInvocation("true", "admin"), /^sudo -n bash -c /);
        assert.match(remoteInvocation("true", "root"), /^bash -c /);
    });

    it("shellcheck does catch a broken script (the check can fail)", () => {
        assert.notEqual(shellcheck("#!/usr/bin/env bash\nrm -rf $dir/*\n", "bash").status, 0);
    });

    it("the remote invocation really runs the script unexpanded by the login shell", () => {
        const script = "#!/usr/bin/env bash\nset -euo pipefail\nv='$HOME `id`'\nprintf '%s|' \"$v\" \"$0\"\n";
        const result = exec("sh", ["-c", remoteInvocation(script, "root")]);
        assert.equal(result.status, 0, result.output);
        assert.equal(result.output, "$HOME `id`|bash|");
    });

    it("quotes any value for bash", () => {
        const nasty = "it's $(rm -rf /) `x` \"y\"";
        assert.equal(exec("bash", ["-c", `printf %s ${shellQuote(nasty)}`]).output, nasty);
        assert.throws(() => heredoc("cat", "EOF", "a\nEOF\nb"), /contains its delimiter/);
    });

    it("hashes content, not time: same text same hash, one byte different another", () => {
        assert.equal(contentHash(scripts.switch), contentHash(renderSwitchScript(CATALOG, RELEASES, { healthTimeoutSeconds: 90 })));
        assert.notEqual(contentHash("a", "bc"), contentHash("ab", "c"));
    });

    it("the prepare step unpacks the shipped sources after checking their checksum, and no script fetches", () => {
        const text = scripts["prepare gateway"];
        assert.match(text, /\/var\/lib\/pakashop\/incoming\/gateway\.tar/);
        assert.ok(text.includes(SHA256));
        for (const [name, script] of Object.entries(scripts)) {
            if (name !== "meilisearch") assert.doesNotMatch(script, /\bgit\b|github\.com/, name); // Meilisearch's release binary comes from GitHub
        }
        assert.match(scripts.bootstrap, /install -d -m 0700 -o 'admin' -g root '\/var\/lib\/pakashop\/incoming'/);
    });

    it("proxies nginx on 80 and 443 to the gateway, with the Origin CA certificate when given one", () => {
        const site = renderNginxSite(8000);
        assert.match(site, /ssl_certificate \/etc\/nginx\/tls\/origin\.pem;/);
        assert.match(renderNginxSite(8000, false), /ssl-cert-snakeoil\.pem/);
        assert.equal((site.match(/proxy_pass http:\/\/127\.0\.0\.1:8000;/g) ?? []).length, 2);
        assert.match(site, /listen 443 ssl default_server;/);
        assert.match(site, /ssl_protocols TLSv1\.2 TLSv1\.3;/);
    });
});
