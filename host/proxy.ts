/**
 * nginx as the host's front door: HTTPS (and plain HTTP for health probes on the host) to the
 * gateway on 127.0.0.1. Only Cloudflare may reach 443 (the security group says so); the
 * certificate is Debian's snakeoil until the Cloudflare Origin CA certificate replaces it.
 */
import { scriptHeader, heredoc } from "./shell";

export const NGINX_SITE_PATH = "/etc/nginx/sites-available/pakashop";
/** The Cloudflare Origin CA certificate and key, when the step is given them. */
export const ORIGIN_TLS = { certificate: "/etc/nginx/tls/origin.pem", key: "/etc/nginx/tls/origin.key" } as const;
const SNAKEOIL_TLS = { certificate: "/etc/ssl/certs/ssl-cert-snakeoil.pem", key: "/etc/ssl/private/ssl-cert-snakeoil.key" } as const;

/** The nginx site proxying everything to the gateway. */
export function renderNginxSite(gatewayPort: number, originCertificate = true): string {
    const tlsFiles = originCertificate ? ORIGIN_TLS : SNAKEOIL_TLS;
    const proxy = [
        `    location / {`,
        `        proxy_pass http://127.0.0.1:${gatewayPort};`,
        `        proxy_http_version 1.1;`,
        `        proxy_set_header Host $host;`,
        `        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`,
        `        proxy_set_header X-Forwarded-Proto $scheme;`,
        `        proxy_read_timeout 60s;`,
        `    }`,
    ].join("\n");
    return `# Managed by pakashop-infra (Pulumi).
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    server_tokens off;
${proxy}
}

server {
    listen 443 ssl default_server;
    listen [::]:443 ssl default_server;
    server_tokens off;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${tlsFiles.certificate};
    ssl_certificate_key ${tlsFiles.key};
${proxy}
}
`;
}

/**
 * Installs the site, checks the configuration and reloads nginx (never a broken config). With
 * `originCertificate`, the key and then the certificate (PEM) arrive on standard input.
 */
export function renderProxyScript(gatewayPort: number, originCertificate = true): string {
    const installCertificate = originCertificate ? `
bundle=$(mktemp)
cat > "$bundle"
install -d -m 0700 /etc/nginx/tls
awk '{ print } /^-----END .*PRIVATE KEY-----$/ { exit }' "$bundle" > "$tmp"
grep -q 'PRIVATE KEY-----$' "$tmp" || fail "no private key on standard input"
install -m 0600 -o root -g root "$tmp" ${ORIGIN_TLS.key}
awk 'found { print } /^-----END .*PRIVATE KEY-----$/ { found = 1 }' "$bundle" > "$tmp"
rm -f "$bundle"
grep -q '^-----BEGIN CERTIFICATE-----$' "$tmp" || fail "no certificate after the key on standard input"
install -m 0644 -o root -g root "$tmp" ${ORIGIN_TLS.certificate}
` : "";
    return `${scriptHeader("proxy")}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
${installCertificate}
${heredoc('cat > "$tmp"', "NGINX_SITE_EOF", renderNginxSite(gatewayPort, originCertificate))}
install -m 0644 -o root -g root "$tmp" ${NGINX_SITE_PATH}
ln -sfn ${NGINX_SITE_PATH} /etc/nginx/sites-enabled/pakashop
rm -f /etc/nginx/sites-enabled/default
nginx -t -q || fail "nginx rejected the configuration"
systemctl enable --quiet nginx
if systemctl is-active --quiet nginx; then systemctl reload nginx; else systemctl start nginx; fi
log "nginx proxies :80 and :443 to the gateway on 127.0.0.1:${gatewayPort}"
`;
}
