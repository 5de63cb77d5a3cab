/**
 * The cloud-init user data of a host: the deploy key for the image's default user, and an SSH
 * host key the host generates itself at first boot and prints to its console, where the deploy
 * reads it (components/hostKey.ts). The user data holds no secret: AWS's ReadOnlyAccess policy
 * can read it (ec2:DescribeInstanceAttribute), so no private key may ever be in it.
 * Written as JSON, which is valid YAML, so no YAML library is needed to get quoting right.
 */
export interface CloudInitArgs {
    /** The deploy public key authorized for the image's default user. */
    readonly deployPublicKey: string;
}

export function renderCloudConfig(args: CloudInitArgs): string {
    const config = {
        // The image's keys (if any) go; one fresh ed25519 key per instance, made on this host.
        // cloud-init docs, module "SSH": ssh_deletekeys, ssh_genkeytypes.
        ssh_deletekeys: true,
        ssh_genkeytypes: ["ed25519"],
        // keys_to_console prints the public keys to the console (cc_keys_to_console.py: on
        // unless ssh.emit_keys_to_console is false; ssh-dss is skipped by default). Said
        // explicitly: the deploy depends on it.
        ssh: { emit_keys_to_console: true },
        ssh_key_console_blacklist: [],
        ssh_authorized_keys: [args.deployPublicKey],
        ssh_pwauth: false,
        disable_root: true,
    };
    return `#cloud-config\n${JSON.stringify(config, null, 2)}\n`;
}
