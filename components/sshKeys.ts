/**
 * Parses the deploy key pair without any tool outside Node: the public key line (RFC 4253
 * section 6.6 wire format inside base64), PEM private keys through node:crypto, and OpenSSH's
 * own private key format (`-----BEGIN OPENSSH PRIVATE KEY-----`), which node:crypto does not
 * read, by hand. That format is documented in OpenSSH's PROTOCOL.key
 * (https://cvsweb.openbsd.org/src/usr.bin/ssh/PROTOCOL.key):
 *
 *     byte[] "openssh-key-v1\0"; string ciphername; string kdfname; string kdfoptions;
 *     uint32 N; string publickey1..N; string (encrypted, padded) private list
 *
 * where the unencrypted private list is `uint32 checkint; uint32 checkint;` then per key the
 * key type and its fields (ed25519: string pub(32), string priv(64 = seed || pub); RSA: mpint
 * n, e, d, iqmp, p, q), a comment and padding. `ciphername` other than `none` means the key has
 * a passphrase.
 */
import { createPrivateKey, createPublicKey, KeyObject } from "crypto";

/** What a key is, enough to compare a public key with a private key's public half. */
export interface KeyIdentity {
    readonly type: "ssh-ed25519" | "ssh-rsa" | string;
    /** RSA modulus size in bits; 256 for ed25519. */
    readonly bits: number;
    /** Canonical form of the public key: equal for the two halves of one pair. */
    readonly fingerprint: string;
}

export class KeyFormatError extends Error {}

/** Reads SSH wire-format fields (RFC 4251 section 5: uint32, string, mpint). */
class Reader {
    private offset = 0;
    constructor(private readonly data: Buffer) {}
    uint32(): number {
        if (this.offset + 4 > this.data.length) throw new KeyFormatError("truncated");
        const value = this.data.readUInt32BE(this.offset);
        this.offset += 4;
        return value;
    }
    bytes(): Buffer {
        const length = this.uint32();
        if (this.offset + length > this.data.length) throw new KeyFormatError("truncated");
        const value = this.data.subarray(this.offset, this.offset + length);
        this.offset += length;
        return value;
    }
    string(): string {
        return this.bytes().toString("latin1");
    }
    rest(): Buffer {
        return this.data.subarray(this.offset);
    }
}

const stripZeros = (b: Buffer): string => b.toString("hex").replace(/^(00)+/, "");
const bitLength = (hex: string): number => (hex === "" ? 0 : BigInt(`0x${hex}`).toString(2).length);

function rsaIdentity(n: Buffer, e: Buffer): KeyIdentity {
    const nHex = stripZeros(n);
    return { type: "ssh-rsa", bits: bitLength(nHex), fingerprint: `rsa:${stripZeros(e)}:${nHex}` };
}

function ed25519Identity(pub: Buffer): KeyIdentity {
    if (pub.length !== 32) throw new KeyFormatError("an ed25519 public key is 32 bytes");
    return { type: "ssh-ed25519", bits: 256, fingerprint: `ed25519:${pub.toString("hex")}` };
}

/** The key inside a public key blob (the base64 field of a `.pub` line). */
function blobIdentity(blob: Buffer): KeyIdentity {
    const reader = new Reader(blob);
    const type = reader.string();
    if (type === "ssh-ed25519") return ed25519Identity(reader.bytes());
    if (type === "ssh-rsa") {
        const e = reader.bytes();
        return rsaIdentity(reader.bytes(), e);
    }
    return { type, bits: 0, fingerprint: `${type}:${blob.toString("hex")}` };
}

/** Parses one OpenSSH public key line (`<type> <base64> [comment]`). */
export function parsePublicKeyLine(line: string): KeyIdentity {
    const match = /^(\S+) ([A-Za-z0-9+/]+={0,3})(?: [^\r\n]*)?$/.exec(line);
    if (!match) throw new KeyFormatError("is not one OpenSSH public key line: <type> <base64> [comment]");
    const identity = blobIdentity(Buffer.from(match[2], "base64"));
    if (identity.type !== match[1]) throw new KeyFormatError(`says ${match[1]} but holds a ${identity.type} key`);
    return identity;
}

/** The private key's own public half, or why it can't be used. */
export type PrivateKeyResult =
    | { readonly ok: true; readonly identity: KeyIdentity }
    | { readonly ok: false; readonly reason: "passphrase" | "format"; readonly detail: string };

const PEM = /^-----BEGIN ((?:OPENSSH |RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY)-----\n([\s\S]+?)\n-----END \1-----\n?$/;

export function parsePrivateKey(text: string): PrivateKeyResult {
    const pem = PEM.exec(text.replace(/\r\n/g, "\n").trim() + "\n");
    if (!pem) return { ok: false, reason: "format", detail: "is not a PEM or OpenSSH private key" };
    if (pem[1] === "ENCRYPTED PRIVATE KEY" || /Proc-Type: 4,ENCRYPTED/.test(pem[2])) {
        return { ok: false, reason: "passphrase", detail: "is encrypted with a passphrase" };
    }
    try {
        return pem[1] === "OPENSSH PRIVATE KEY" ? openSshPrivateKey(Buffer.from(pem[2].replace(/\s+/g, ""), "base64")) : pemPrivateKey(text);
    } catch (error) {
        if ((error as { code?: string }).code === "ERR_MISSING_PASSPHRASE") return { ok: false, reason: "passphrase", detail: "is encrypted with a passphrase" };
        // Never the library's message: it may quote the key.
        return { ok: false, reason: "format", detail: error instanceof KeyFormatError ? `is not a valid private key (${error.message})` : "is not a valid private key" };
    }
}

function pemPrivateKey(text: string): PrivateKeyResult {
    const key: KeyObject = createPrivateKey({ key: text, format: "pem" });
    const jwk = createPublicKey(key).export({ format: "jwk" }) as { kty?: string; crv?: string; x?: string; n?: string; e?: string };
    if (jwk.kty === "OKP" && jwk.crv === "Ed25519" && jwk.x) return { ok: true, identity: ed25519Identity(Buffer.from(jwk.x, "base64url")) };
    if (jwk.kty === "RSA" && jwk.n && jwk.e) return { ok: true, identity: rsaIdentity(Buffer.from(jwk.n, "base64url"), Buffer.from(jwk.e, "base64url")) };
    return { ok: true, identity: { type: `${jwk.kty}-${jwk.crv ?? ""}`, bits: 0, fingerprint: "other" } };
}

const MAGIC = Buffer.from("openssh-key-v1\0", "latin1");

function openSshPrivateKey(data: Buffer): PrivateKeyResult {
    if (!data.subarray(0, MAGIC.length).equals(MAGIC)) throw new KeyFormatError("no openssh-key-v1 header");
    const reader = new Reader(data.subarray(MAGIC.length));
    const cipher = reader.string();
    reader.string(); // kdfname
    reader.bytes(); // kdfoptions
    if (cipher !== "none") return { ok: false, reason: "passphrase", detail: `is encrypted with a passphrase (cipher ${cipher})` };
    if (reader.uint32() !== 1) throw new KeyFormatError("holds more than one key");
    const header = blobIdentity(reader.bytes());
    const list = new Reader(reader.bytes());
    if (list.uint32() !== list.uint32()) throw new KeyFormatError("check integers differ");
    const type = list.string();
    let inner: KeyIdentity;
    if (type === "ssh-ed25519") {
        const pub = list.bytes();
        const priv = list.bytes();
        if (priv.length !== 64 || !priv.subarray(32).equals(pub)) throw new KeyFormatError("ed25519 private part does not hold its public key");
        // The seed must really derive the public key (PKCS#8 wrapping of RFC 8410).
        const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), priv.subarray(0, 32)]);
        const x = (createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).export({ format: "jwk" }) as { x: string }).x;
        if (!Buffer.from(x, "base64url").equals(pub)) throw new KeyFormatError("ed25519 seed does not derive its public key");
        inner = ed25519Identity(pub);
    } else if (type === "ssh-rsa") {
        const n = list.bytes();
        const e = list.bytes();
        list.bytes(); // d
        list.bytes(); // iqmp
        const p = BigInt(`0x${stripZeros(list.bytes()) || "0"}`);
        const q = BigInt(`0x${stripZeros(list.bytes()) || "0"}`);
        if (p * q !== BigInt(`0x${stripZeros(n) || "0"}`)) throw new KeyFormatError("RSA primes do not give its modulus");
        inner = rsaIdentity(n, e);
    } else {
        inner = { type, bits: 0, fingerprint: header.fingerprint };
    }
    if (inner.fingerprint !== header.fingerprint) throw new KeyFormatError("public and private sections disagree");
    return { ok: true, identity: inner };
}
