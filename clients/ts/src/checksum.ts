// The skill checksum (spec/rest-api.md, section 13): sha256 over a domain label and the content.

const LABEL = "openpact-skill-content:v1\n";

/** `sha256:<64 hex>` of a skill's content, as PublishSkill expects it. Uses WebCrypto (Node and browsers). */
export async function skillChecksum(content: string): Promise<string> {
    const bytes = new TextEncoder().encode(LABEL + content);
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
    return "sha256:" + Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
