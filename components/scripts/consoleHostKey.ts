/**
 * Learns a new host's SSH host key from its EC2 console output, the channel AWS documents for
 * verifying a host key before the first connection ("get-console-output ... look for the
 * SSH HOST KEY FINGERPRINTS section", EC2 User Guide, "Connect to your Linux instance using
 * SSH", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/connection-prereqs-general.html).
 *
 * Why not generate the key in the program: its private half would have to reach the host, and
 * user data is the only channel at boot. User data is readable by anyone with
 * `ec2:DescribeInstanceAttribute`, which AWS's ReadOnlyAccess policy (the drift role) grants,
 * and `pulumi refresh` of an instance needs it. So every host generates its own key at first
 * boot and its private half never leaves it.
 *
 * cloud-init's keys_to_console module runs tools/write-ssh-key-fingerprints, which prints
 * `-----BEGIN SSH HOST KEY KEYS-----`, the `.pub` lines, `-----END SSH HOST KEY KEYS-----`
 * through `logger --stderr -t ec2`, so on the console each line may carry a prefix such as
 * `ec2: ` or a syslog/timestamp head (canonical/cloud-init, tools/write-ssh-key-fingerprints
 * and cloudinit/config/cc_keys_to_console.py). The parser therefore looks for the markers
 * anywhere in a line and takes the ed25519 key from the last complete block (a console holds
 * the latest boot's output with `--latest`; a rebooted host prints the block again).
 */
import { scriptHeader } from "../../host/shell";

/** How long a new host may take to boot and print its keys before the step fails. */
export const HOST_KEY_WAIT_SECONDS = 900;
/** Pause between polls: GetConsoleOutput is a rate-limited API. */
export const HOST_KEY_POLL_SECONDS = 10;

/**
 * Extracts the ed25519 host key line from console text on stdin (the function the script
 * runs; also run by the unit tests on real console shapes). Prints nothing when there is no
 * complete block yet. No `{m,n}` intervals in the regex: mawk, the default awk of Debian and
 * Ubuntu (CodeBuild's image), does not support them.
 */
export const PARSE_CONSOLE_KEY = String.raw`parse_console_key() {
    awk '
        /-----BEGIN SSH HOST KEY KEYS-----/ { inside = 1; candidate = ""; next }
        /-----END SSH HOST KEY KEYS-----/ { if (inside && candidate != "") key = candidate; inside = 0; next }
        inside && match($0, /ssh-ed25519 [A-Za-z0-9+\/=]+/) { candidate = substr($0, RSTART, RLENGTH) }
        END { if (key != "") print key }
    '
}`;

/**
 * The local step's script. Environment: PAKASHOP_INSTANCE_ID, PAKASHOP_REGION. Prints exactly
 * one `ssh-ed25519 AAAA...` line on stdout (the step's output the connections pin).
 */
export function renderConsoleHostKeyScript(): string {
    return `${scriptHeader("host-key")}${PARSE_CONSOLE_KEY}

: "\${PAKASHOP_INSTANCE_ID:?}" "\${PAKASHOP_REGION:?}"
[[ $PAKASHOP_INSTANCE_ID =~ ^i-[0-9a-f]{8,17}$ ]] || fail "not an EC2 instance id: $PAKASHOP_INSTANCE_ID"
# The two limits are variables only so the unit tests need not wait minutes.
wait_seconds=\${PAKASHOP_HOST_KEY_WAIT_SECONDS:-${HOST_KEY_WAIT_SECONDS}}
poll_seconds=\${PAKASHOP_HOST_KEY_POLL_SECONDS:-${HOST_KEY_POLL_SECONDS}}
deadline=$(( SECONDS + wait_seconds ))
while :; do
    # --latest: the newest console buffer (Nitro instances), not the one posted at boot end.
    if console=$(aws ec2 get-console-output --region "$PAKASHOP_REGION" --instance-id "$PAKASHOP_INSTANCE_ID" --latest --output text --query Output 2>&1); then
        key=$(printf '%s\\n' "$console" | parse_console_key)
        if [[ -n $key ]]; then
            printf '%s\\n' "$key"
            exit 0
        fi
    else
        log "get-console-output: \${console##*$'\\n'}"
    fi
    (( SECONDS < deadline )) || fail "instance $PAKASHOP_INSTANCE_ID printed no ssh-ed25519 host key to its console in $wait_seconds s (is cloud-init's keys_to_console module enabled?)"
    sleep "$poll_seconds"
done
`;
}
