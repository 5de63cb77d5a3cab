/**
 * Test keys made on the fly with node:crypto, in the formats the deploy key settings accept or
 * refuse: OpenSSH public key lines, PEM (PKCS#8) and OpenSSH private keys (PROTOCOL.key,
 * https://cvsweb.openbsd.org/src/usr.bin/ssh/PROTOCOL.key), with or without a passphrase.
 */
import { generateKeyPairSync, KeyObject, randomBytes } from "crypto";

const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
};
const str = (b: Buffer | string) => {
    const data = typeof b === "string" ? Buffer.from(b, "latin1") : b;
    return Buffer.concat([u32(data.length), data]);
};
/** RFC 4251 mpint from an unsigned big-endian buffer. */
const mpint = (b: Buffer) => {
    let bytes = b;
    while (bytes.length > 1 && bytes[0] === 0) bytes = bytes.subarray(1);
    return str(bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
};
const jwkOf = (key: KeyObject) => key.export({ format: "jwk" }) as Record<string, string>;
const b64u = (s: string) => Buffer.from(s, "base64url");

export interface TestKey {
    readonly publicLine: string;
    readonly pem: string;
    readonly privateKey: KeyObject;
    /** The public key blob (wire format). */
    readonly blob: Buffer;
}

export function ed25519Key(comment = "test"): TestKey {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const blob = Buffer.concat([str("ssh-ed25519"), str(b64u(jwkOf(publicKey).x))]);
    return { publicLine: `ssh-ed25519 ${blob.toString("base64")} ${comment}`, pem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), privateKey, blob };
}

export function rsaKey(bits: number, comment = "test"): TestKey {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: bits });
    const jwk = jwkOf(publicKey);
    const blob = Buffer.concat([str("ssh-rsa"), mpint(b64u(jwk.e)), mpint(b64u(jwk.n))]);
    return { publicLine: `ssh-rsa ${blob.toString("base64")} ${comment}`, pem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), privateKey, blob };
}

export function ecdsaPublicLine(): string {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = jwkOf(publicKey);
    const point = Buffer.concat([Buffer.from([4]), b64u(jwk.x), b64u(jwk.y)]);
    const blob = Buffer.concat([str("ecdsa-sha2-nistp256"), str("nistp256"), str(point)]);
    return `ecdsa-sha2-nistp256 ${blob.toString("base64")} test`;
}

/** The PEM private key encrypted with a passphrase. */
export function encryptedPem(key: TestKey): string {
    return key.privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "correct horse" }).toString();
}

/**
 * An OpenSSH-format private key (`-----BEGIN OPENSSH PRIVATE KEY-----`) for an ed25519 key.
 * `cipher` other than none marks it as passphrase-protected (the body is not really encrypted:
 * the parser must refuse it before reading it). `corruptSeed` breaks the seed/public relation.
 */
export function openSshEd25519(key: TestKey, options: { comment?: string; cipher?: string; corruptSeed?: boolean } = {}): string {
    const jwk = jwkOf(key.privateKey);
    const pub = b64u(jwk.x);
    const seed = b64u(jwk.d);
    if (options.corruptSeed) seed[0] ^= 0xff;
    const check = randomBytes(4);
    let list = Buffer.concat([check, check, str("ssh-ed25519"), str(pub), str(Buffer.concat([seed, pub])), str(options.comment ?? "test")]);
    for (let pad = 1; list.length % 8 !== 0; pad++) list = Buffer.concat([list, Buffer.from([pad])]);
    const cipher = options.cipher ?? "none";
    const body = Buffer.concat([
        Buffer.from("openssh-key-v1\0", "latin1"), str(cipher), str(cipher === "none" ? "none" : "bcrypt"),
        str(cipher === "none" ? Buffer.alloc(0) : Buffer.concat([str(randomBytes(16)), u32(16)])),
        u32(1), str(key.blob), str(list),
    ]);
    const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
    return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
