/**
 * Host bootstrap, run once per host (and again only if this script changes): packages for
 * the three runtimes and the proxy, the service and build users, and the folder layout.
 * Idempotent: every step checks before it acts, and apt runs only when a package is missing.
 */
import { HOST_LAYOUT } from "./layout";
import { heredoc, scriptHeader, shellQuote } from "./shell";

/**
 * The Debian release every host runs. Debian 13 (trixie, stable since August 2025) ships
 * nodejs 20.19, golang-go 1.24 and python3 3.13: at least what the seed's CI builds with
 * (Node 20, Go 1.22, Python 3.12). Debian 12's Node 18, Go 1.19 and Python 3.11 are older
 * than the services need. Checked on a trixie root filesystem (tests/e2e/rootfs.ts), where the
 * end-to-end test builds services that require those versions.
 */
export const DEBIAN_RELEASE = { version: 13, codename: "trixie" } as const;

/** sshd drop-in: key authentication only, and enough unauthenticated slots for a tier. */
export const SSHD_SETTINGS = [
    "# Managed by pakashop-infra (Pulumi).",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "MaxStartups 64:30:128",
    "",
].join("\n");

/**
 * Debian 13 packages: runtimes for Node (`nodejs`, `npm`), Go (`golang-go`) and Python
 * (`python3-venv`), nginx with the snakeoil certificate (`ssl-cert`) until the origin
 * certificate is installed, and the tools the deploy uses. Debian's archive rather than vendor
 * repositories: signed by the distribution's keys, patched by its security team. Debian 13's
 * versions (Node 20, Go 1.24, Python 3.13) meet the seed's CI (Node 20, Go 1.22, Python 3.12).
 * No git: the sources arrive as tarballs from the machine running Pulumi.
 */
export const HOST_PACKAGES: readonly string[] = [
    "ca-certificates", "curl", "nginx", "ssl-cert", "nodejs", "npm", "golang-go", "python3-venv",
];

/**
 * @param sshUser the deploy's SSH user: it owns the folder the copy steps write the source
 *   tarballs to (SFTP runs as that user, without sudo).
 * @param hostId the instance id, recorded in {@link HOST_LAYOUT.hostIdFile} for the remove steps.
 */
export function renderBootstrapScript(sshUser: string, hostId: string): string {
    const L = HOST_LAYOUT;
    return `${scriptHeader("bootstrap")}
# cloud-init installs the host key and the deploy key; wait until it is done.
if command -v cloud-init >/dev/null 2>&1; then
  cloud-init status --wait >/dev/null || fail "cloud-init did not finish cleanly (see /var/log/cloud-init-output.log)"
fi

packages=(${HOST_PACKAGES.join(" ")})
missing=()
for package in "\${packages[@]}"; do
  dpkg-query -W -f='\${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((\${#missing[@]} > 0)); then
  log "installing \${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -q -y --no-install-recommends "\${missing[@]}"
fi

# Services run as ${L.serviceUser}; builds run as ${L.buildUser}. Neither can log in.
id -u ${shellQuote(L.serviceUser)} >/dev/null 2>&1 || useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ${shellQuote(L.serviceUser)}
id -u ${shellQuote(L.buildUser)} >/dev/null 2>&1 || useradd --system --user-group --home-dir ${shellQuote(L.buildHome)} --no-create-home --shell /usr/sbin/nologin ${shellQuote(L.buildUser)}

# sshd: keys only, and room for a whole tier deploying at once (14 parallel sessions would
# hit the default MaxStartups of 10 and see connections dropped during key exchange).
sshd_dropin=/etc/ssh/sshd_config.d/pakashop.conf
${heredoc('cat > "$sshd_dropin.new"', "SSHD_EOF", SSHD_SETTINGS)}
if ! cmp -s "$sshd_dropin.new" "$sshd_dropin"; then
  mv "$sshd_dropin.new" "$sshd_dropin"
  sshd -t || fail "sshd rejected $sshd_dropin"
  systemctl reload ssh
else
  rm -f "$sshd_dropin.new"
fi

install -d -m 0755 -o root -g root ${shellQuote(L.root)} ${shellQuote(L.services)} ${shellQuote(L.incoming.replace(/\/[^/]+$/, ""))}
install -d -m 0700 -o ${shellQuote(sshUser)} -g root ${shellQuote(L.incoming)}
printf '%s\n' ${shellQuote(hostId)} > ${shellQuote(`${L.hostIdFile}.new`)}
mv -f ${shellQuote(`${L.hostIdFile}.new`)} ${shellQuote(L.hostIdFile)}
install -d -m 0700 -o root -g root ${shellQuote(L.environmentDir)}
install -d -m 0755 -o root -g root ${shellQuote(L.buildCache)}
install -d -m 0700 -o ${shellQuote(L.buildUser)} -g ${shellQuote(L.buildUser)} ${shellQuote(L.buildHome)}
# Dependency caches shared by releases (host/prepare): root-owned, readable by the service user
# through the releases' symlinks. The prepare steps make the per-language folders.
install -d -m 0755 -o root -g root ${shellQuote(L.dependencyCache)}
log "host ready"
`;
}
